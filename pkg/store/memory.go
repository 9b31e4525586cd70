package store

import (
	"context"
	"time"
)

// NewMemory returns an empty in-process store for a single control-plane
// instance: nothing is shared with other replicas.
func NewMemory() *Store {
	return newMemory(time.Now)
}

// newMemory is NewMemory with a clock (tests move it).
func newMemory(now func() time.Time) *Store {
	return &Store{
		Queries:    newMemQueries(now),
		Documents:  newMemDocuments(),
		Leases:     newMemLeases(now),
		Replays:    newMemReplays(now),
		Sessions:   newMemSessions(now),
		Governance: newMemGovernance(now),
		History:    newMemHistory(),
		Audit:      &memAudit{},
		Protection: newMemProtection(now),
		Kind:       "memory",
		ping:       func(context.Context) error { return nil },
		close:      func() error { return nil },
	}
}

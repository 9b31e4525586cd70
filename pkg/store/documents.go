package store

import (
	"context"
	"errors"
)

// ErrConflict is returned by CASDocument when another writer changed the
// document first: read it again and retry.
var ErrConflict = errors.New("document changed concurrently")

// Shared documents, each with its own revision counter.
const (
	FleetDoc  = "fleet"  // clusters and their lifecycle states
	PolicyDoc = "policy" // a policy bundle uploaded through the admin API
)

// Documents keeps shared documents, each with a revision that grows by one
// with every write, so replicas notice changes by polling the revision and
// writers never lose each other's updates (compare-and-swap).
type Documents interface {
	// GetDocument returns a document and its revision, or ErrNotFound
	// before the first write.
	GetDocument(ctx context.Context, name string) ([]byte, int64, error)
	// CASDocument writes a document if its stored revision is still expect
	// (0: nothing stored yet) and returns the new revision, or ErrConflict.
	CASDocument(ctx context.Context, name string, doc []byte, expect int64) (int64, error)
	// DocumentRevision returns a document's current revision (0: none),
	// cheaply, so replicas can poll for changes.
	DocumentRevision(ctx context.Context, name string) (int64, error)
	// RestoreDocument writes back a document a replica holds at revision
	// rev after the store lost it (emptied, or failed over to a copy that
	// missed the last writes): it stores doc at rev if the document is
	// absent or its stored revision is lower, atomically, and reports
	// whether it did. A stored revision never goes back: if the document
	// is absent but its counter is at rev or above, doc is stored one
	// above the counter. Replicas that hold rev then see nothing new; one
	// that was behind catches up.
	RestoreDocument(ctx context.Context, name string, doc []byte, rev int64) (bool, error)
}

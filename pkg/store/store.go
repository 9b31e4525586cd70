// Package store is the shared state of a Switchyard fleet: the sticky
// query-ID map today, cluster states and counters as they arrive. Every
// control-plane replica uses the same Store (Redis) so any Envoy and any
// replica can serve any request; Memory is for a single instance.
package store

import (
	"context"
	"errors"
	"strings"
	"time"
)

// ErrNotFound is returned when a key does not exist (or has expired).
var ErrNotFound = errors.New("not found")

// ErrConflict is returned by CASFleet when another writer changed the fleet
// first: read it again and retry.
var ErrConflict = errors.New("fleet changed concurrently")

// QueryRoute says where a query lives.
type QueryRoute struct {
	Cluster     string
	Coordinator string // empty when only the cluster is known
}

// String encodes the route as "cluster" or "cluster/coordinator".
func (r QueryRoute) String() string {
	if r.Coordinator == "" {
		return r.Cluster
	}
	return r.Cluster + "/" + r.Coordinator
}

// ParseQueryRoute decodes the form written by String.
func ParseQueryRoute(s string) (QueryRoute, error) {
	c, k, _ := strings.Cut(s, "/")
	if c == "" {
		return QueryRoute{}, errors.New("empty query route")
	}
	return QueryRoute{Cluster: c, Coordinator: k}, nil
}

// Store is the shared state interface.
type Store interface {
	// PutQuery records where a query lives, for ttl.
	PutQuery(ctx context.Context, queryID string, r QueryRoute, ttl time.Duration) error
	// GetQuery returns where a query lives, or ErrNotFound.
	GetQuery(ctx context.Context, queryID string) (QueryRoute, error)
	// GetFleet returns the fleet document and its revision, or ErrNotFound
	// before the first write.
	GetFleet(ctx context.Context) ([]byte, int64, error)
	// CASFleet writes the fleet document if the stored revision is still
	// expect (0: nothing stored yet) and returns the new revision, or
	// ErrConflict.
	CASFleet(ctx context.Context, doc []byte, expect int64) (int64, error)
	// FleetRevision returns the current fleet revision (0: none), cheaply,
	// so replicas can poll for changes.
	FleetRevision(ctx context.Context) (int64, error)
	// Ping checks that the store answers.
	Ping(ctx context.Context) error
	Close() error
}

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

// ErrConflict is returned by CASDocument when another writer changed the
// document first: read it again and retry.
var ErrConflict = errors.New("document changed concurrently")

// Shared documents, each with its own revision counter.
const (
	FleetDoc  = "fleet"  // clusters and their lifecycle states
	PolicyDoc = "policy" // a policy bundle uploaded through the admin API
)

// QueryRoute says where a query lives (and who submitted it).
type QueryRoute struct {
	Cluster     string
	Coordinator string // empty when only the cluster is known
	User        string // the submitting user, when known
}

// String is "cluster" or "cluster/coordinator".
func (r QueryRoute) String() string {
	if r.Coordinator == "" {
		return r.Cluster
	}
	return r.Cluster + "/" + r.Coordinator
}

// encode is String plus the user after a tab (tabs are dropped from it).
func (r QueryRoute) encode() string {
	if r.User == "" {
		return r.String()
	}
	return r.String() + "\t" + strings.ReplaceAll(r.User, "\t", "")
}

// ParseQueryRoute decodes the stored form.
func ParseQueryRoute(s string) (QueryRoute, error) {
	route, user, _ := strings.Cut(s, "\t")
	c, k, _ := strings.Cut(route, "/")
	if c == "" {
		return QueryRoute{}, errors.New("empty query route")
	}
	return QueryRoute{Cluster: c, Coordinator: k, User: user}, nil
}

// Store is the shared state interface.
type Store interface {
	// PutQuery records where a query lives, for ttl.
	PutQuery(ctx context.Context, queryID string, r QueryRoute, ttl time.Duration) error
	// GetQuery returns where a query lives, or ErrNotFound.
	GetQuery(ctx context.Context, queryID string) (QueryRoute, error)
	// PutTransaction records where a transaction lives, for ttl.
	PutTransaction(ctx context.Context, txnID string, r QueryRoute, ttl time.Duration) error
	// GetTransaction returns where a transaction lives, or ErrNotFound.
	GetTransaction(ctx context.Context, txnID string) (QueryRoute, error)
	// GetDocument returns a shared document and its revision, or
	// ErrNotFound before the first write.
	GetDocument(ctx context.Context, name string) ([]byte, int64, error)
	// CASDocument writes a document if its stored revision is still expect
	// (0: nothing stored yet) and returns the new revision, or ErrConflict.
	CASDocument(ctx context.Context, name string, doc []byte, expect int64) (int64, error)
	// DocumentRevision returns a document's current revision (0: none),
	// cheaply, so replicas can poll for changes.
	DocumentRevision(ctx context.Context, name string) (int64, error)
	// Ping checks that the store answers.
	Ping(ctx context.Context) error
	Close() error
}

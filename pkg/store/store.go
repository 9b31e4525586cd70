// Package store is the shared state of a Switchyard fleet, split by domain
// behind small interfaces: where queries and transactions live (Queries),
// versioned shared documents such as the fleet and the published policy
// (Documents), leases that let exactly one replica run a loop (Leases), and
// how to run a read-only query again when its coordinator dies (Replays),
// and which cluster each client session uses (Sessions).
// Workload governance (Governance: running slots, the queue, rates and
// quotas), the recent query history (History), the admin API's audit
// log (Audit) and the memory of query protection (Protection: incidents
// by query fingerprint, quarantines, throttled users, claims of actions
// and the action log) are domains too.
//
// Every domain has two implementations: Redis, shared by every
// control-plane replica so any Envoy and any replica can serve any request,
// and an in-process one for a single instance. One contract test per
// interface runs against both. A Store bundles the domains of one backend;
// consumers take only the interface they need.
package store

import (
	"context"
	"errors"
)

// ErrNotFound is returned when a key does not exist (or has expired).
var ErrNotFound = errors.New("not found")

// Store is every domain of shared state on one backend.
type Store struct {
	Queries   Queries
	Documents Documents
	Leases    Leases
	Replays   Replays
	Sessions  Sessions
	// Governance counts running queries, queues the rest, and keeps
	// rates and quotas (workload governance).
	Governance Governance
	// History keeps the recent queries (from Trino's event listener).
	History History
	// Audit records the changes made through the admin API.
	Audit Audit
	// Protection remembers what blew up before, whom the watchdog
	// throttles and what protection did (query protection).
	Protection Protection
	// Kind is "redis" or "memory".
	Kind string

	ping  func(context.Context) error
	close func() error
	trips *roundTrips // nil for the memory store
}

// RoundTrips is the number of requests sent to Redis and answered or
// failed since the store opened (a command, a script or a pipeline is
// one); 0 for the memory store.
func (s *Store) RoundTrips() int64 {
	if s.trips == nil {
		return 0
	}
	return s.trips.n.Load()
}

// Ping checks that the backend answers.
func (s *Store) Ping(ctx context.Context) error { return s.ping(ctx) }

// Close releases the backend's connections.
func (s *Store) Close() error { return s.close() }

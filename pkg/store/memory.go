package store

import (
	"context"
	"sync"
	"time"
)

// Memory is an in-process Store for a single control-plane instance.
type Memory struct {
	mu      sync.Mutex
	now     func() time.Time
	queries map[string]memEntry
	writes  int
	fleet   []byte
	rev     int64
}

type memEntry struct {
	route   QueryRoute
	expires time.Time
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	return &Memory{now: time.Now, queries: map[string]memEntry{}}
}

// PutQuery implements Store.
func (m *Memory) PutQuery(_ context.Context, id string, r QueryRoute, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.queries[id] = memEntry{route: r, expires: now.Add(ttl)}
	m.writes++
	if m.writes%1024 == 0 { // amortised sweep keeps memory bounded
		for k, e := range m.queries {
			if !now.Before(e.expires) {
				delete(m.queries, k)
			}
		}
	}
	return nil
}

// GetQuery implements Store.
func (m *Memory) GetQuery(_ context.Context, id string) (QueryRoute, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.queries[id]
	if !ok {
		return QueryRoute{}, ErrNotFound
	}
	if !m.now().Before(e.expires) {
		delete(m.queries, id)
		return QueryRoute{}, ErrNotFound
	}
	return e.route, nil
}

// GetFleet implements Store.
func (m *Memory) GetFleet(context.Context) ([]byte, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.rev == 0 {
		return nil, 0, ErrNotFound
	}
	return append([]byte(nil), m.fleet...), m.rev, nil
}

// CASFleet implements Store.
func (m *Memory) CASFleet(_ context.Context, doc []byte, expect int64) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.rev != expect {
		return 0, ErrConflict
	}
	m.fleet = append([]byte(nil), doc...)
	m.rev++
	return m.rev, nil
}

// FleetRevision implements Store.
func (m *Memory) FleetRevision(context.Context) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rev, nil
}

// Ping implements Store.
func (m *Memory) Ping(context.Context) error { return nil }

// Close implements Store.
func (m *Memory) Close() error { return nil }

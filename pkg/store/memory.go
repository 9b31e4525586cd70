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

// Ping implements Store.
func (m *Memory) Ping(context.Context) error { return nil }

// Close implements Store.
func (m *Memory) Close() error { return nil }

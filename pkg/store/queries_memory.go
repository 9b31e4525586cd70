package store

import (
	"context"
	"sync"
	"time"
)

// memQueries is Queries in process memory. Expired entries are dropped
// when read and by an amortised sweep on writes, so memory stays bounded.
type memQueries struct {
	mu      sync.Mutex
	now     func() time.Time
	entries map[string]memEntry // queries under their ID, transactions under "txn:" + ID
	writes  int
}

type memEntry struct {
	route   QueryRoute
	expires time.Time
}

func newMemQueries(now func() time.Time) *memQueries {
	return &memQueries{now: now, entries: map[string]memEntry{}}
}

const memSweepEvery = 1024

func (m *memQueries) put(key string, r QueryRoute, ttl time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.entries[key] = memEntry{route: r.normalized(), expires: now.Add(ttl)}
	m.writes++
	if m.writes%memSweepEvery == 0 {
		for k, e := range m.entries {
			if !now.Before(e.expires) {
				delete(m.entries, k)
			}
		}
	}
}

func (m *memQueries) get(key string) (QueryRoute, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[key]
	if !ok {
		return QueryRoute{}, ErrNotFound
	}
	if !m.now().Before(e.expires) {
		delete(m.entries, key)
		return QueryRoute{}, ErrNotFound
	}
	return e.route, nil
}

func (m *memQueries) PutQuery(_ context.Context, id string, r QueryRoute, ttl time.Duration) error {
	m.put(id, r, ttl)
	return nil
}

func (m *memQueries) GetQuery(_ context.Context, id string) (QueryRoute, error) {
	return m.get(id)
}

// Query IDs never contain ':' (trino.ValidQueryID), so transactions cannot
// collide with them.
func (m *memQueries) PutTransaction(_ context.Context, id string, r QueryRoute, ttl time.Duration) error {
	m.put("txn:"+id, r, ttl)
	return nil
}

func (m *memQueries) GetTransaction(_ context.Context, id string) (QueryRoute, error) {
	return m.get("txn:" + id)
}

func (m *memQueries) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}

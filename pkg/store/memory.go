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
	docs    map[string]memDoc
}

type memDoc struct {
	body []byte
	rev  int64
}

type memEntry struct {
	route   QueryRoute
	expires time.Time
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	return &Memory{now: time.Now, queries: map[string]memEntry{}, docs: map[string]memDoc{}}
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

// PutTransaction implements Store.
func (m *Memory) PutTransaction(ctx context.Context, id string, r QueryRoute, ttl time.Duration) error {
	return m.PutQuery(ctx, "txn:"+id, r, ttl)
}

// GetTransaction implements Store.
func (m *Memory) GetTransaction(ctx context.Context, id string) (QueryRoute, error) {
	return m.GetQuery(ctx, "txn:"+id)
}

// GetDocument implements Store.
func (m *Memory) GetDocument(_ context.Context, name string) ([]byte, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.docs[name]
	if !ok {
		return nil, 0, ErrNotFound
	}
	return append([]byte(nil), d.body...), d.rev, nil
}

// CASDocument implements Store.
func (m *Memory) CASDocument(_ context.Context, name string, doc []byte, expect int64) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.docs[name].rev != expect {
		return 0, ErrConflict
	}
	rev := expect + 1
	m.docs[name] = memDoc{body: append([]byte(nil), doc...), rev: rev}
	return rev, nil
}

// DocumentRevision implements Store.
func (m *Memory) DocumentRevision(_ context.Context, name string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.docs[name].rev, nil
}

// Ping implements Store.
func (m *Memory) Ping(context.Context) error { return nil }

// Close implements Store.
func (m *Memory) Close() error { return nil }

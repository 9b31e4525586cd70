package store

import (
	"context"
	"sync"
	"time"
)

// memSessions is Sessions in process memory; expired records are dropped
// when read and by an amortised sweep on writes.
type memSessions struct {
	mu      sync.Mutex
	now     func() time.Time
	entries map[string]memSession
	writes  int
}

type memSession struct {
	encoded []byte // stored encoded, so callers never share maps with the store
	expires time.Time
}

func newMemSessions(now func() time.Time) *memSessions {
	return &memSessions{now: now, entries: map[string]memSession{}}
}

func (m *memSessions) PutSession(_ context.Context, id string, s ClientSession, ttl time.Duration) error {
	b, err := encodeSession(id, s)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.entries[id] = memSession{encoded: b, expires: now.Add(ttl)}
	m.writes++
	if m.writes%memSweepEvery == 0 {
		for k, e := range m.entries {
			if !now.Before(e.expires) {
				delete(m.entries, k)
			}
		}
	}
	return nil
}

func (m *memSessions) GetSession(_ context.Context, id string, ttl time.Duration) (ClientSession, error) {
	m.mu.Lock()
	now := m.now()
	e, ok := m.entries[id]
	switch {
	case ok && !now.Before(e.expires):
		delete(m.entries, id)
		ok = false
	case ok:
		e.expires = now.Add(ttl)
		m.entries[id] = e
	}
	m.mu.Unlock()
	if !ok {
		return ClientSession{}, ErrNotFound
	}
	return decodeSession(id, e.encoded)
}

package store

import (
	"context"
	"sync"
	"time"
)

// memReplays is Replays in process memory; expired records are dropped
// when read and by an amortised sweep on writes.
type memReplays struct {
	mu      sync.Mutex
	now     func() time.Time
	entries map[string]memReplay
	writes  int
}

type memReplay struct {
	encoded []byte // stored encoded, so callers never share slices with the store
	expires time.Time
}

func newMemReplays(now func() time.Time) *memReplays {
	return &memReplays{now: now, entries: map[string]memReplay{}}
}

func (m *memReplays) PutReplay(_ context.Context, id string, r Replay, ttl time.Duration) error {
	b, err := encodeReplay(id, r)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.entries[id] = memReplay{encoded: b, expires: now.Add(ttl)}
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

func (m *memReplays) GetReplay(_ context.Context, id string) (Replay, error) {
	m.mu.Lock()
	e, ok := m.entries[id]
	if ok && !m.now().Before(e.expires) {
		delete(m.entries, id)
		ok = false
	}
	m.mu.Unlock()
	if !ok {
		return Replay{}, ErrNotFound
	}
	return decodeReplay(id, e.encoded)
}

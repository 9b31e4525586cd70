package store

import (
	"sync"
	"time"
)

// memSweepEvery is how many writes pass between two sweeps of expired
// records.
const memSweepEvery = 1024

// memTTL is the in-memory domains' map of records with an expiry (query
// routes, replays, sessions): expired records are dropped when read and by
// an amortised sweep on writes, so memory stays bounded. V is held by
// value; domains whose records hold slices or maps keep them encoded, so
// callers never share them with the store.
type memTTL[V any] struct {
	mu      sync.Mutex
	now     func() time.Time
	entries map[string]memEntry[V]
	writes  int
}

type memEntry[V any] struct {
	value   V
	expires time.Time
}

func newMemTTL[V any](now func() time.Time) memTTL[V] {
	return memTTL[V]{now: now, entries: map[string]memEntry[V]{}}
}

func (m *memTTL[V]) put(id string, v V, ttl time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.entries[id] = memEntry[V]{value: v, expires: now.Add(ttl)}
	m.writes++
	if m.writes%memSweepEvery == 0 {
		for k, e := range m.entries {
			if !now.Before(e.expires) {
				delete(m.entries, k)
			}
		}
	}
}

// get returns a live record; with touch > 0 its TTL restarts at touch.
func (m *memTTL[V]) get(id string, touch time.Duration) (V, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	e, ok := m.entries[id]
	switch {
	case ok && !now.Before(e.expires):
		delete(m.entries, id)
		var zero V
		return zero, false
	case ok && touch > 0:
		e.expires = now.Add(touch)
		m.entries[id] = e
	}
	return e.value, ok
}

func (m *memTTL[V]) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}

package store

import (
	"context"
	"sync"
	"time"
)

// memLeases is Leases in process memory (a single instance holds every
// lease it asks for, unless two holders in the process compete).
type memLeases struct {
	mu     sync.Mutex
	now    func() time.Time
	held   map[string]Lease
	fences map[string]int64
}

func newMemLeases(now func() time.Time) *memLeases {
	return &memLeases{now: now, held: map[string]Lease{}, fences: map[string]int64{}}
}

func (m *memLeases) Acquire(_ context.Context, name, holder string, ttl time.Duration, atLeast int64) (Lease, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if l, ok := m.held[name]; ok && now.Before(l.Expires) {
		if l.Holder != holder {
			return Lease{}, ErrHeld
		}
		l.Expires = now.Add(ttl)
		m.held[name] = l
		return l, nil
	}
	tok := max(m.fences[name], atLeast) + 1
	m.fences[name] = tok
	l := Lease{Name: name, Holder: holder, Token: tok, Expires: now.Add(ttl)}
	m.held[name] = l
	return l, nil
}

// holds reports whether l is the live holding of its lease.
func (m *memLeases) holds(l Lease, now time.Time) bool {
	cur, ok := m.held[l.Name]
	return ok && cur.Holder == l.Holder && cur.Token == l.Token && now.Before(cur.Expires)
}

func (m *memLeases) Renew(_ context.Context, l Lease, ttl time.Duration) (Lease, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if !m.holds(l, now) {
		return Lease{}, ErrLost
	}
	l.Expires = now.Add(ttl)
	m.held[l.Name] = l
	return l, nil
}

func (m *memLeases) Release(_ context.Context, l Lease) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.holds(l, m.now()) {
		return ErrLost
	}
	delete(m.held, l.Name)
	return nil
}

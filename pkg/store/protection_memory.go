package store

import (
	"context"
	"slices"
	"sort"
	"sync"
	"time"
)

// memProtection is Protection in process memory. Expired records are
// dropped when read and by a sweep every memSweepEvery writes. Records
// hold no slices or maps: copies never share anything with the store.
type memProtection struct {
	mu     sync.Mutex
	now    func() time.Time
	writes int

	incidents    map[string]memList[Incident] // newest first
	quarantines  map[string]Incident          // live until Until
	throttles    map[string]Throttle          // live until Until
	claims       map[string]time.Time         // key: expiry
	actions      []Action                     // oldest first
	queryActions map[string]memList[Action]   // newest first
}

// memList is a bounded list that expires as a whole.
type memList[V any] struct {
	items   []V
	expires time.Time
}

func newMemProtection(now func() time.Time) *memProtection {
	return &memProtection{
		now:          now,
		incidents:    map[string]memList[Incident]{},
		quarantines:  map[string]Incident{},
		throttles:    map[string]Throttle{},
		claims:       map[string]time.Time{},
		queryActions: map[string]memList[Action]{},
	}
}

// wrote counts a write and, now and then, drops every expired record.
func (m *memProtection) wrote(now time.Time) {
	m.writes++
	if m.writes%memSweepEvery != 0 {
		return
	}
	for k, l := range m.incidents {
		if !now.Before(l.expires) {
			delete(m.incidents, k)
		}
	}
	for k, q := range m.quarantines {
		if !now.Before(q.Until) {
			delete(m.quarantines, k)
		}
	}
	for k, t := range m.throttles {
		if !now.Before(t.Until) {
			delete(m.throttles, k)
		}
	}
	for k, exp := range m.claims {
		if !now.Before(exp) {
			delete(m.claims, k)
		}
	}
	for k, l := range m.queryActions {
		if !now.Before(l.expires) {
			delete(m.queryActions, k)
		}
	}
}

// push puts v first in a list (a new one if l expired), keeps at most
// keep items and restarts the list's TTL.
func push[V any](l memList[V], v V, keep int, ttl time.Duration, now time.Time) memList[V] {
	if !now.Before(l.expires) {
		l.items = nil
	}
	items := make([]V, 0, min(len(l.items)+1, keep))
	items = append(items, v)
	items = append(items, l.items[:min(len(l.items), keep-1)]...)
	return memList[V]{items: items, expires: now.Add(ttl)}
}

func (m *memProtection) RecordIncident(_ context.Context, in Incident, ttl time.Duration, keep int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	ttl, err := prepareIncident(&in, ttl, now)
	if err != nil {
		return err
	}
	if in.Kind == IncidentQuarantine {
		m.quarantines[in.Fingerprint] = in
	} else {
		m.incidents[in.Fingerprint] = push(m.incidents[in.Fingerprint], in, max(keep, 1), ttl, now)
	}
	m.wrote(now)
	return nil
}

func (m *memProtection) Incidents(_ context.Context, fingerprint string) ([]Incident, error) {
	if err := checkFingerprint(fingerprint); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	var out []Incident
	if l, ok := m.incidents[fingerprint]; ok && now.Before(l.expires) {
		out = append(out, l.items...)
	}
	if q, ok := m.quarantines[fingerprint]; ok && now.Before(q.Until) {
		out = append(out, q)
	}
	newestFirst(out)
	return out, nil
}

func (m *memProtection) ReleaseFingerprint(_ context.Context, fingerprint string) error {
	if err := checkFingerprint(fingerprint); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	l, hadList := m.incidents[fingerprint]
	q, hadQuarantine := m.quarantines[fingerprint]
	delete(m.incidents, fingerprint)
	delete(m.quarantines, fingerprint)
	if !(hadList && now.Before(l.expires)) && !(hadQuarantine && now.Before(q.Until)) {
		return ErrNotFound
	}
	return nil
}

func (m *memProtection) SetThrottle(_ context.Context, t Throttle) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if _, err := prepareThrottle(&t, now); err != nil {
		return err
	}
	m.throttles[t.User] = t
	m.wrote(now)
	return nil
}

func (m *memProtection) GetThrottle(_ context.Context, user string) (Throttle, error) {
	if err := checkField("throttle user", user); err != nil {
		return Throttle{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.throttles[user]
	if !ok || !m.now().Before(t.Until) {
		return Throttle{}, ErrNotFound
	}
	return t, nil
}

func (m *memProtection) Throttles(context.Context) ([]Throttle, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	var out []Throttle
	for _, t := range m.throttles {
		if now.Before(t.Until) {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].User < out[j].User })
	return out, nil
}

func (m *memProtection) RemoveThrottle(_ context.Context, user string) error {
	if err := checkField("throttle user", user); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.throttles[user]
	delete(m.throttles, user)
	if !ok || !m.now().Before(t.Until) {
		return ErrNotFound
	}
	return nil
}

func (m *memProtection) Claim(_ context.Context, key, holder string, ttl time.Duration) (bool, error) {
	if err := checkClaim(key, holder, ttl); err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if exp, ok := m.claims[key]; ok && now.Before(exp) {
		return false, nil
	}
	m.claims[key] = now.Add(ttl)
	m.wrote(now)
	return true, nil
}

func (m *memProtection) AddAction(_ context.Context, a Action, keep int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	keep, err := prepareAction(&a, keep, now)
	if err != nil {
		return err
	}
	m.actions = append(m.actions, a)
	if over := len(m.actions) - keep; over > 0 {
		m.actions = slices.Delete(m.actions, 0, over)
	}
	if a.QueryID != "" {
		m.queryActions[a.QueryID] = push(m.queryActions[a.QueryID], a, QueryActionsKeep, QueryActionsTTL, now)
	}
	m.wrote(now)
	return nil
}

func (m *memProtection) RecentActions(_ context.Context, n int) ([]Action, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n = min(max(n, 0), len(m.actions))
	out := make([]Action, 0, n)
	for i := len(m.actions) - 1; i >= len(m.actions)-n; i-- {
		out = append(out, m.actions[i])
	}
	return out, nil
}

func (m *memProtection) QueryActions(_ context.Context, queryID string) ([]Action, error) {
	if err := checkField("query ID", queryID); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.queryActions[queryID]
	if !ok || !m.now().Before(l.expires) {
		return nil, nil
	}
	return slices.Clone(l.items), nil
}

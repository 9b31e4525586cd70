package protection

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/store"
)

// maxCachedFingerprints bounds an IncidentCache: past it, expired entries
// are dropped, and if none had expired, all of them.
const maxCachedFingerprints = 10000

// IncidentCache is a store.Protection that keeps what it read of each
// fingerprint's incidents for a short time on this replica, so that a
// stream of submissions of the same statement shape costs the shared store
// one read per fingerprint and interval instead of one per submission (the
// read is on every submission's critical path).
//
// What this replica records or releases through the cache is seen at
// once: the fingerprint's entry is dropped, and a read that was under way
// while it was written keeps its answer to itself. What another replica
// records is seen here within TTL. Everything else passes through.
type IncidentCache struct {
	store.Protection
	ttl time.Duration
	now func() time.Time

	mu sync.Mutex
	// gen counts the writes through the cache: a read caches its answer
	// only if no write went through while it ran.
	gen     uint64
	entries map[string]cachedIncidents
}

type cachedIncidents struct {
	incidents []store.Incident
	expires   time.Time
}

// CacheIncidents wraps p with an IncidentCache of ttl (0 or less: p
// itself, no cache).
func CacheIncidents(p store.Protection, ttl time.Duration) store.Protection {
	if ttl <= 0 || p == nil {
		return p
	}
	return &IncidentCache{Protection: p, ttl: ttl, now: time.Now, entries: map[string]cachedIncidents{}}
}

// Incidents answers from the cache while the fingerprint's entry is
// younger than TTL, and from the store otherwise. A quarantine that ended
// since it was read is left out, as the store would.
func (c *IncidentCache) Incidents(ctx context.Context, fingerprint string) ([]store.Incident, error) {
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[fingerprint]
	gen := c.gen
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return live(e.incidents, now), nil
	}
	ins, err := c.Protection.Incidents(ctx, fingerprint)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.gen == gen {
		if len(c.entries) >= maxCachedFingerprints {
			c.evict(now)
		}
		c.entries[fingerprint] = cachedIncidents{incidents: slices.Clone(ins), expires: now.Add(c.ttl)}
	}
	c.mu.Unlock()
	return ins, nil
}

// RecordIncident records through to the store and drops the
// fingerprint's entry.
func (c *IncidentCache) RecordIncident(ctx context.Context, in store.Incident, ttl time.Duration, keep int) error {
	defer c.forget(in.Fingerprint)
	return c.Protection.RecordIncident(ctx, in, ttl, keep)
}

// ReleaseFingerprint releases through to the store and drops the
// fingerprint's entry.
func (c *IncidentCache) ReleaseFingerprint(ctx context.Context, fingerprint string) error {
	defer c.forget(fingerprint)
	return c.Protection.ReleaseFingerprint(ctx, fingerprint)
}

func (c *IncidentCache) forget(fingerprint string) {
	c.mu.Lock()
	c.gen++
	delete(c.entries, fingerprint)
	c.mu.Unlock()
}

// evict drops the expired entries, or all of them if none had expired.
func (c *IncidentCache) evict(now time.Time) {
	for fp, e := range c.entries {
		if !now.Before(e.expires) {
			delete(c.entries, fp)
		}
	}
	if len(c.entries) >= maxCachedFingerprints {
		clear(c.entries)
	}
}

// live is a copy of ins without the quarantines that ended by now.
func live(ins []store.Incident, now time.Time) []store.Incident {
	if len(ins) == 0 {
		return nil
	}
	out := make([]store.Incident, 0, len(ins))
	for _, in := range ins {
		if in.Kind == store.IncidentQuarantine && !now.Before(in.Until) {
			continue
		}
		out = append(out, in)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

package protection

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/store"
)

// countingProtection counts the incident reads that reach the store, and
// can hold one read until released.
type countingProtection struct {
	store.Protection
	reads atomic.Int64
	fail  atomic.Bool
	hold  chan chan struct{} // a read sends a channel here and waits for it
}

func (p *countingProtection) Incidents(ctx context.Context, fp string) ([]store.Incident, error) {
	p.reads.Add(1)
	ins, err := p.Protection.Incidents(ctx, fp)
	if p.hold != nil {
		release := make(chan struct{})
		p.hold <- release
		<-release
	}
	if p.fail.Load() {
		return nil, errors.New("redis: connection refused")
	}
	return ins, err
}

func newCacheUnderTest(t *testing.T) (*IncidentCache, *countingProtection, *time.Time) {
	t.Helper()
	under := &countingProtection{Protection: store.NewMemory().Protection}
	c, ok := CacheIncidents(under, time.Second).(*IncidentCache)
	if !ok {
		t.Fatal("CacheIncidents with a TTL did not return a cache")
	}
	now := time.Now()
	c.now = func() time.Time { return now }
	return c, under, &now
}

func failureOf(fp, query string) store.Incident {
	return store.Incident{Fingerprint: fp, QueryID: query, User: "alice", Kind: store.IncidentFailure,
		ErrorName: "EXCEEDED_LOCAL_MEMORY_LIMIT", Reason: "EXCEEDED_LOCAL_MEMORY_LIMIT: 100MB", Time: time.Now()}
}

func TestIncidentCache(t *testing.T) {
	ctx := context.Background()
	const fp = "2c26b46b68ffc68f"
	read := func(t *testing.T, c *IncidentCache) []store.Incident {
		t.Helper()
		ins, err := c.Incidents(ctx, fp)
		if err != nil {
			t.Fatal(err)
		}
		return ins
	}

	t.Run("repeated reads within the TTL reach the store once", func(t *testing.T) {
		c, under, now := newCacheUnderTest(t)
		for range 5 {
			if ins := read(t, c); len(ins) != 0 {
				t.Fatalf("incidents of an unknown fingerprint: %+v", ins)
			}
		}
		if n := under.reads.Load(); n != 1 {
			t.Fatalf("%d reads reached the store, want 1", n)
		}
		*now = now.Add(time.Second)
		read(t, c)
		if n := under.reads.Load(); n != 2 {
			t.Fatalf("after the TTL: %d reads reached the store, want 2", n)
		}
	})

	t.Run("what this replica records is seen at once", func(t *testing.T) {
		c, under, _ := newCacheUnderTest(t)
		read(t, c)
		if err := c.RecordIncident(ctx, failureOf(fp, "q1"), time.Hour, 10); err != nil {
			t.Fatal(err)
		}
		if ins := read(t, c); len(ins) != 1 || ins[0].QueryID != "q1" {
			t.Fatalf("after recording through the cache: %+v", ins)
		}
		if err := c.ReleaseFingerprint(ctx, fp); err != nil {
			t.Fatal(err)
		}
		if ins := read(t, c); len(ins) != 0 {
			t.Fatalf("after releasing through the cache: %+v", ins)
		}
		if n := under.reads.Load(); n != 3 {
			t.Fatalf("%d reads reached the store, want 3 (each write drops the entry)", n)
		}
	})

	t.Run("what another replica records is seen within the TTL", func(t *testing.T) {
		c, under, now := newCacheUnderTest(t)
		read(t, c)
		if err := under.Protection.RecordIncident(ctx, failureOf(fp, "q2"), time.Hour, 10); err != nil { // another replica
			t.Fatal(err)
		}
		if ins := read(t, c); len(ins) != 0 {
			t.Fatalf("within the TTL the cached answer stands, got %+v", ins)
		}
		*now = now.Add(time.Second)
		if ins := read(t, c); len(ins) != 1 || ins[0].QueryID != "q2" {
			t.Fatalf("after the TTL: %+v", ins)
		}
	})

	t.Run("a quarantine that ended is left out of a cached answer", func(t *testing.T) {
		c, _, now := newCacheUnderTest(t)
		q := store.Incident{Fingerprint: fp, QueryID: "q3", User: "alice", Kind: store.IncidentQuarantine,
			Reason: "3 failures", Time: time.Now(), Until: now.Add(500 * time.Millisecond)}
		if err := c.RecordIncident(ctx, q, time.Hour, 10); err != nil {
			t.Fatal(err)
		}
		if ins := read(t, c); len(ins) != 1 || ins[0].Kind != store.IncidentQuarantine {
			t.Fatalf("the live quarantine: %+v", ins)
		}
		*now = now.Add(600 * time.Millisecond)
		if ins := read(t, c); len(ins) != 0 {
			t.Fatalf("a cached quarantine past its end: %+v", ins)
		}
	})

	t.Run("a read under way while this replica writes is not cached", func(t *testing.T) {
		c, under, _ := newCacheUnderTest(t)
		under.hold = make(chan chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() { read(t, c) })
		release := <-under.hold // the read has its (empty) answer and waits
		if err := c.RecordIncident(ctx, failureOf(fp, "q4"), time.Hour, 10); err != nil {
			t.Fatal(err)
		}
		close(release)
		wg.Wait()
		under.hold = nil
		if ins := read(t, c); len(ins) != 1 || ins[0].QueryID != "q4" {
			t.Fatalf("the stale read was cached: %+v", ins)
		}
	})

	t.Run("a failed read is not cached", func(t *testing.T) {
		c, under, _ := newCacheUnderTest(t)
		under.fail.Store(true)
		if _, err := c.Incidents(ctx, fp); err == nil {
			t.Fatal("the store's error was not returned")
		}
		under.fail.Store(false)
		read(t, c)
		if n := under.reads.Load(); n != 2 {
			t.Fatalf("%d reads reached the store, want 2", n)
		}
	})

	t.Run("entries are bounded", func(t *testing.T) {
		c, _, _ := newCacheUnderTest(t)
		for i := range maxCachedFingerprints + 10 {
			if _, err := c.Incidents(ctx, fmt.Sprintf("%016x", i)); err != nil {
				t.Fatal(err)
			}
		}
		if n := len(c.entries); n > maxCachedFingerprints {
			t.Fatalf("%d entries, want at most %d", n, maxCachedFingerprints)
		}
	})

	t.Run("no TTL, no cache", func(t *testing.T) {
		under := store.NewMemory().Protection
		if got := CacheIncidents(under, 0); got != under {
			t.Fatalf("CacheIncidents(p, 0) = %T, want p", got)
		}
	})
}

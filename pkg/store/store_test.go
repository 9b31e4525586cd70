package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/e2e/harness"
)

// contract runs the same checks against every Store implementation.
func contract(t *testing.T, s Store) {
	ctx := context.Background()
	t.Run("put and get", func(t *testing.T) {
		r := QueryRoute{Cluster: "blue", Coordinator: "0"}
		if err := s.PutQuery(ctx, "q1", r, time.Hour); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetQuery(ctx, "q1")
		if err != nil || got != r {
			t.Fatalf("got %+v, %v", got, err)
		}
	})
	t.Run("cluster only", func(t *testing.T) {
		r := QueryRoute{Cluster: "green"}
		if err := s.PutQuery(ctx, "q2", r, time.Hour); err != nil {
			t.Fatal(err)
		}
		if got, err := s.GetQuery(ctx, "q2"); err != nil || got != r {
			t.Fatalf("got %+v, %v", got, err)
		}
	})
	t.Run("overwrite", func(t *testing.T) {
		r := QueryRoute{Cluster: "green", Coordinator: "1"}
		if err := s.PutQuery(ctx, "q1", r, time.Hour); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.GetQuery(ctx, "q1"); got != r {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("not found", func(t *testing.T) {
		if _, err := s.GetQuery(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("got %v, want ErrNotFound", err)
		}
	})
	t.Run("fleet compare-and-swap", func(t *testing.T) {
		if _, _, err := s.GetDocument(ctx, FleetDoc); !errors.Is(err, ErrNotFound) {
			t.Fatalf("empty store: %v", err)
		}
		if rev, err := s.DocumentRevision(ctx, FleetDoc); err != nil || rev != 0 {
			t.Fatalf("empty revision %d %v", rev, err)
		}
		r1, err := s.CASDocument(ctx, FleetDoc, []byte(`{"v":1}`), 0)
		if err != nil || r1 != 1 {
			t.Fatalf("first write: %d %v", r1, err)
		}
		if _, err := s.CASDocument(ctx, FleetDoc, []byte(`{"v":"lost"}`), 0); !errors.Is(err, ErrConflict) {
			t.Fatalf("stale write: %v", err)
		}
		r2, err := s.CASDocument(ctx, FleetDoc, []byte(`{"v":2}`), r1)
		if err != nil || r2 != 2 {
			t.Fatalf("second write: %d %v", r2, err)
		}
		doc, rev, err := s.GetDocument(ctx, FleetDoc)
		if err != nil || rev != 2 || string(doc) != `{"v":2}` {
			t.Fatalf("read %s %d %v", doc, rev, err)
		}
		if _, _, err := s.GetDocument(ctx, PolicyDoc); !errors.Is(err, ErrNotFound) {
			t.Fatalf("documents are not separate: %v", err)
		}
		if rev, _ := s.DocumentRevision(ctx, FleetDoc); rev != 2 {
			t.Fatalf("revision %d", rev)
		}
	})
	t.Run("ping", func(t *testing.T) {
		if err := s.Ping(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

func TestMemory(t *testing.T) {
	contract(t, NewMemory())
}

func TestMemoryExpiry(t *testing.T) {
	m := NewMemory()
	now := time.Unix(1000, 0)
	m.now = func() time.Time { return now }
	ctx := context.Background()
	_ = m.PutQuery(ctx, "q", QueryRoute{Cluster: "a"}, time.Minute)
	now = now.Add(59 * time.Second)
	if _, err := m.GetQuery(ctx, "q"); err != nil {
		t.Fatalf("expired early: %v", err)
	}
	now = now.Add(time.Second)
	if _, err := m.GetQuery(ctx, "q"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("not expired: %v", err)
	}
	// The amortised sweep drops expired entries nobody reads again.
	for i := range 2048 {
		_ = m.PutQuery(ctx, fmt.Sprintf("old%d", i), QueryRoute{Cluster: "a"}, time.Second)
	}
	now = now.Add(time.Hour)
	for i := range 1024 {
		_ = m.PutQuery(ctx, fmt.Sprintf("new%d", i), QueryRoute{Cluster: "a"}, time.Hour)
	}
	if n := len(m.queries); n > 1024 {
		t.Fatalf("%d entries kept; expired ones were not swept", n)
	}
}

func startRedis(t *testing.T) *harness.Redis {
	t.Helper()
	e := &harness.Env{Dir: t.TempDir()}
	r, err := e.StartRedis(context.Background(), "redis")
	if err != nil {
		t.Fatalf("redis-server is needed for this test (make setup installs it): %v", err)
	}
	t.Cleanup(e.StopAll)
	return r
}

func TestRedis(t *testing.T) {
	r := startRedis(t)
	s := NewRedis(RedisOptions{Address: r.Addr, Timeout: time.Second, KeyPrefix: "test:"})
	defer s.Close()
	contract(t, s)

	t.Run("ttl", func(t *testing.T) {
		ctx := context.Background()
		if err := s.PutQuery(ctx, "short", QueryRoute{Cluster: "a"}, 50*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		err := harness.Poll(ctx, "the entry to expire", 5*time.Second, 20*time.Millisecond, func() error {
			if _, err := s.GetQuery(ctx, "short"); !errors.Is(err, ErrNotFound) {
				return errors.New("still there")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	t.Run("redis down gives an error, not a hang", func(t *testing.T) {
		r.Stop()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		start := time.Now()
		_, err := s.GetQuery(ctx, "q1")
		if err == nil || errors.Is(err, ErrNotFound) {
			t.Fatalf("got %v with Redis stopped", err)
		}
		if d := time.Since(start); d > 4*time.Second {
			t.Fatalf("took %v", d)
		}
	})
}

func TestParseQueryRoute(t *testing.T) {
	for in, want := range map[string]QueryRoute{"a": {Cluster: "a"}, "a/0": {Cluster: "a", Coordinator: "0"}} {
		got, err := ParseQueryRoute(in)
		if err != nil || got != want || got.String() != in {
			t.Errorf("%q: %+v %v", in, got, err)
		}
	}
	if _, err := ParseQueryRoute(""); err == nil {
		t.Error("empty accepted")
	}
}

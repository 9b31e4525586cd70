package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestQueriesContract runs the same checks against every Queries
// implementation.
func TestQueriesContract(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) { queriesContract(t, b) })
	}
}

func queriesContract(t *testing.T, b backend) {
	ctx := context.Background()
	q := b.s.Queries
	t.Run("put and get", func(t *testing.T) {
		for id, r := range map[string]QueryRoute{
			"q1": {Cluster: "blue", Coordinator: "0"},
			"q2": {Cluster: "green"},
			"q3": {Cluster: "green", Coordinator: "backup", User: "alice@example.com"},
		} {
			if err := q.PutQuery(ctx, id, r, time.Hour); err != nil {
				t.Fatal(err)
			}
			if got, err := q.GetQuery(ctx, id); err != nil || got != r {
				t.Fatalf("%s: got %+v, %v; want %+v", id, got, err, r)
			}
		}
	})
	t.Run("overwrite", func(t *testing.T) {
		r := QueryRoute{Cluster: "green", Coordinator: "1"}
		if err := q.PutQuery(ctx, "q1", r, time.Hour); err != nil {
			t.Fatal(err)
		}
		if got, _ := q.GetQuery(ctx, "q1"); got != r {
			t.Fatalf("got %+v, want %+v", got, r)
		}
	})
	t.Run("a tab in the user is dropped, not a broken route", func(t *testing.T) {
		if err := q.PutQuery(ctx, "q4", QueryRoute{Cluster: "a", User: "ev\til"}, time.Hour); err != nil {
			t.Fatal(err)
		}
		got, err := q.GetQuery(ctx, "q4")
		if err != nil || got != (QueryRoute{Cluster: "a", User: "evil"}) {
			t.Fatalf("got %+v, %v", got, err)
		}
	})
	t.Run("not found", func(t *testing.T) {
		if _, err := q.GetQuery(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("got %v, want ErrNotFound", err)
		}
		if _, err := q.GetTransaction(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("transaction: got %v, want ErrNotFound", err)
		}
	})
	t.Run("transactions", func(t *testing.T) {
		r := QueryRoute{Cluster: "blue", Coordinator: "0"}
		if err := q.PutTransaction(ctx, "t1", r, time.Hour); err != nil {
			t.Fatal(err)
		}
		if got, err := q.GetTransaction(ctx, "t1"); err != nil || got != r {
			t.Fatalf("got %+v, %v", got, err)
		}
		// Transactions and queries are separate namespaces.
		if _, err := q.GetQuery(ctx, "t1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a transaction is visible as a query: %v", err)
		}
		if err := q.PutQuery(ctx, "same", QueryRoute{Cluster: "x"}, time.Hour); err != nil {
			t.Fatal(err)
		}
		if err := q.PutTransaction(ctx, "same", QueryRoute{Cluster: "y"}, time.Hour); err != nil {
			t.Fatal(err)
		}
		gq, _ := q.GetQuery(ctx, "same")
		gt, _ := q.GetTransaction(ctx, "same")
		if gq.Cluster != "x" || gt.Cluster != "y" {
			t.Fatalf("query %+v, transaction %+v share a key", gq, gt)
		}
	})
	t.Run("entries expire", func(t *testing.T) {
		if err := q.PutQuery(ctx, "short", QueryRoute{Cluster: "a"}, 50*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if err := q.PutTransaction(ctx, "short", QueryRoute{Cluster: "a"}, 50*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if err := q.PutQuery(ctx, "long", QueryRoute{Cluster: "a"}, time.Hour); err != nil {
			t.Fatal(err)
		}
		b.advance(50 * time.Millisecond)
		eventually(t, "the short entries to expire", func() error {
			if _, err := q.GetQuery(ctx, "short"); !errors.Is(err, ErrNotFound) {
				return fmt.Errorf("query still there: %v", err)
			}
			if _, err := q.GetTransaction(ctx, "short"); !errors.Is(err, ErrNotFound) {
				return fmt.Errorf("transaction still there: %v", err)
			}
			return nil
		})
		if _, err := q.GetQuery(ctx, "long"); err != nil {
			t.Fatalf("a live entry expired: %v", err)
		}
	})
}

func TestMemorySweepsExpiredEntries(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1000, 0)}
	m := newMemQueries(clock.Now)
	ctx := context.Background()
	for i := range 2 * memSweepEvery {
		_ = m.PutQuery(ctx, fmt.Sprintf("old%d", i), QueryRoute{Cluster: "a"}, time.Second)
	}
	clock.Advance(time.Hour)
	for i := range memSweepEvery {
		_ = m.PutQuery(ctx, fmt.Sprintf("new%d", i), QueryRoute{Cluster: "a"}, time.Hour)
	}
	if n := m.len(); n > memSweepEvery {
		t.Fatalf("%d entries kept; expired ones nobody reads again were not swept", n)
	}
}

func TestParseQueryRoute(t *testing.T) {
	for in, want := range map[string]QueryRoute{
		"a": {Cluster: "a"}, "a/0": {Cluster: "a", Coordinator: "0"}, "a/0\tbob": {Cluster: "a", Coordinator: "0", User: "bob"},
	} {
		got, err := ParseQueryRoute(in)
		if err != nil || got != want || got.Encode() != in {
			t.Errorf("%q: %+v %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "/0", "\tbob"} {
		if _, err := ParseQueryRoute(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// FuzzParseQueryRoute: whatever is stored decodes to a route or an error;
// a decoded route encodes back to a form that decodes to the same route.
func FuzzParseQueryRoute(f *testing.F) {
	for _, s := range []string{"a", "a/0", "a/0\tbob", "", "/", "a//b", "a/0\t", "\t\t", "a/b/c\tu\tv"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseQueryRoute(s)
		if err != nil {
			return
		}
		if r.Cluster == "" {
			t.Fatalf("%q: parsed with an empty cluster", s)
		}
		again, err := ParseQueryRoute(r.Encode())
		if err != nil || again != r {
			t.Fatalf("%q: %+v encodes to %q, which parses to %+v, %v", s, r, r.Encode(), again, err)
		}
	})
}

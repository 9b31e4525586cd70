package metadata

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// An answer is fresh for TTL; after it, it is served once more while a
// refresh runs, and the refreshed answer follows.
func TestCatalogTTL(t *testing.T) {
	clk := newClock()
	n := 0
	src := &fake{name: "trino", answer: func(_ context.Context, tables []string) (map[string]Table, error) {
		n++ // calls are serialised here: one flight at a time for one table
		return map[string]Table{tables[0]: rows(float64(n))}, nil
	}}
	c := New(Options{Sources: []Source{src}, TTL: time.Minute, Now: clk.Now})
	defer c.Close()
	ctx := context.Background()

	equal(t, "first", c.Lookup(ctx, []string{"a.b.c"})["a.b.c"].Rows, 1.0)
	clk.Advance(time.Minute - time.Second)
	equal(t, "fresh", c.Lookup(ctx, []string{"a.b.c"})["a.b.c"].Rows, 1.0)
	equal(t, "calls while fresh", src.numCalls(), 1)

	clk.Advance(time.Second) // expired
	equal(t, "stale", c.Lookup(ctx, []string{"a.b.c"})["a.b.c"].Rows, 1.0)
	waitIdle(t, c)
	equal(t, "calls after expiry", src.numCalls(), 2)
	equal(t, "refreshed", c.Lookup(ctx, []string{"a.b.c"})["a.b.c"].Rows, 2.0)
	s := stats(t, c, "trino")
	if s.Misses != 1 || s.Hits != 2 || s.Stale != 1 || s.Calls != 2 || s.Entries != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// "Not known" is cached too, for the shorter NegativeTTL.
func TestCatalogNegativeCaching(t *testing.T) {
	clk := newClock()
	src := &fake{name: "om", answer: known(map[string]Table{"a.b.known": rows(5)})}
	c := New(Options{Sources: []Source{src}, TTL: 10 * time.Minute, Now: clk.Now})
	defer c.Close()
	ctx := context.Background()
	both := []string{"a.b.known", "a.b.unknown"}

	got := c.Lookup(ctx, both)
	if _, ok := got["a.b.unknown"]; ok || got["a.b.known"].Rows != 5 {
		t.Fatalf("got %v", got)
	}
	clk.Advance(MaxNegativeTTL - time.Second)
	c.Lookup(ctx, both)
	equal(t, "calls within the negative TTL", src.asked(), [][]string{both})

	// Past the negative TTL, only the unknown table is asked again.
	clk.Advance(time.Second)
	c.Lookup(ctx, both)
	waitIdle(t, c)
	equal(t, "calls", src.asked(), [][]string{both, {"a.b.unknown"}})
}

// The default negative TTL is min(TTL, 1m).
func TestCatalogNegativeTTLDefault(t *testing.T) {
	equal(t, "long TTL", New(Options{TTL: time.Hour}).o.NegativeTTL, time.Minute)
	equal(t, "short TTL", New(Options{TTL: 10 * time.Second}).o.NegativeTTL, 10*time.Second)
	equal(t, "explicit", New(Options{NegativeTTL: 5 * time.Second}).o.NegativeTTL, 5*time.Second)
}

// An expired answer is served at once while the refresh is still running;
// other lookups meanwhile do not start another refresh.
func TestCatalogStaleWhileRevalidate(t *testing.T) {
	clk := newClock()
	release, open := gate()
	refreshing := make(chan struct{}, 1)
	first := true
	src := &fake{name: "trino", answer: func(ctx context.Context, tables []string) (map[string]Table, error) {
		if first {
			first = false
			return map[string]Table{"a.b.c": rows(1)}, nil
		}
		refreshing <- struct{}{}
		<-release
		return map[string]Table{"a.b.c": rows(2)}, nil
	}}
	c := New(Options{Sources: []Source{src}, TTL: time.Minute, Timeout: 10 * time.Second, Now: clk.Now})
	t.Cleanup(c.Close)
	t.Cleanup(open)
	ctx := context.Background()
	c.Lookup(ctx, []string{"a.b.c"})

	clk.Advance(2 * time.Minute)
	// The source is blocked until release: these lookups return without it.
	for i := range 3 {
		equal(t, fmt.Sprintf("stale lookup %d", i), c.Lookup(ctx, []string{"a.b.c"})["a.b.c"].Rows, 1.0)
	}
	<-refreshing // the refresh did start
	equal(t, "calls", src.numCalls(), 2)
	open()
	waitIdle(t, c)
	equal(t, "after the refresh", c.Lookup(ctx, []string{"a.b.c"})["a.b.c"].Rows, 2.0)
	equal(t, "calls", src.numCalls(), 2)
}

// A source that blocks forever holds a cold lookup for Timeout only, and
// does not hide the other sources' answers.
func TestCatalogTimeout(t *testing.T) {
	release, open := gate()
	stuck := &fake{name: "stuck", answer: func(context.Context, []string) (map[string]Table, error) {
		// Ignores its context. (Its own 5s bound only turns a lookup that
		// would wait for it into a failure rather than a hang.)
		select {
		case <-release:
		case <-time.After(5 * time.Second):
		}
		return nil, nil
	}}
	fast := &fake{name: "fast", answer: known(map[string]Table{"a.b.c": rows(7)})}
	const timeout = 50 * time.Millisecond
	c := New(Options{Sources: []Source{stuck, fast}, Timeout: timeout})
	t.Cleanup(c.Close)
	t.Cleanup(open) // runs before Close

	start := time.Now()
	got := c.Lookup(context.Background(), []string{"a.b.c"})
	if d := time.Since(start); d > timeout+2*time.Second {
		t.Fatalf("the lookup took %v with a timeout of %v", d, timeout)
	}
	equal(t, "answer", got, map[string]Table{"a.b.c": {Rows: 7, RowsKnown: true, SizeClass: Small, Sources: []string{"fast"}}})
	if s := stats(t, c, "stuck"); s.Timeouts != 1 {
		t.Fatalf("stats %+v", s)
	}

	// A second lookup joins the call under way rather than making another.
	c.Lookup(context.Background(), []string{"a.b.c"})
	if s := stats(t, c, "stuck"); s.Calls != 1 || s.Joined != 1 || s.Timeouts != 2 {
		t.Fatalf("stats %+v", s)
	}
}

// The lookup's context ends the wait too.
func TestCatalogLookupContext(t *testing.T) {
	stuck := &fake{name: "stuck", answer: func(ctx context.Context, _ []string) (map[string]Table, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}}
	c := New(Options{Sources: []Source{stuck}, Timeout: time.Hour})
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if got := c.Lookup(ctx, []string{"a.b.c"}); len(got) != 0 {
		t.Fatalf("got %v", got)
	}
}

// A failing (or panicking) source is left out and counted; it is asked
// again after FailureTTL, meanwhile its previous answer is served.
func TestCatalogFailingSource(t *testing.T) {
	clk := newClock()
	fail := true
	var mu sync.Mutex
	flaky := &fake{name: "flaky", answer: func(context.Context, []string) (map[string]Table, error) {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			return nil, errors.New("connection refused")
		}
		return map[string]Table{"a.b.c": {Owner: "ops"}}, nil
	}}
	panicky := &fake{name: "panicky", answer: func(context.Context, []string) (map[string]Table, error) { panic("bug") }}
	good := &fake{name: "good", answer: known(map[string]Table{"a.b.c": {Tags: []string{"pii"}}})}
	c := New(Options{Sources: []Source{flaky, panicky, good}, FailureTTL: 5 * time.Second, Now: clk.Now})
	defer c.Close()
	ctx := context.Background()

	equal(t, "answer", c.Lookup(ctx, []string{"a.b.c"}), map[string]Table{"a.b.c": {Tags: []string{"pii"}, Sources: []string{"good"}}})
	for _, name := range []string{"flaky", "panicky"} {
		if s := stats(t, c, name); s.Calls != 1 || s.Errors != 1 {
			t.Fatalf("%s: stats %+v", name, s)
		}
	}
	// Within FailureTTL the failing sources are not asked again.
	c.Lookup(ctx, []string{"a.b.c"})
	equal(t, "calls", flaky.numCalls()+panicky.numCalls(), 2)

	// After it they are (in the background), and a recovered one answers.
	mu.Lock()
	fail = false
	mu.Unlock()
	clk.Advance(5 * time.Second)
	c.Lookup(ctx, []string{"a.b.c"})
	waitIdle(t, c)
	equal(t, "recovered", c.Lookup(ctx, []string{"a.b.c"})["a.b.c"],
		Table{Tags: []string{"pii"}, Owner: "ops", Sources: []string{"flaky", "good"}})

	// A refresh that fails keeps the previous answer.
	mu.Lock()
	fail = true
	mu.Unlock()
	clk.Advance(time.Hour)
	c.Lookup(ctx, []string{"a.b.c"})
	waitIdle(t, c)
	equal(t, "kept", c.Lookup(ctx, []string{"a.b.c"})["a.b.c"].Owner, "ops")
}

// A source that answers some tables and fails the others: the answers are
// used, the rest are not cached as unknown.
func TestCatalogPartialAnswer(t *testing.T) {
	clk := newClock()
	src := &fake{name: "trino", answer: func(context.Context, []string) (map[string]Table, error) {
		return map[string]Table{"a.b.ok": rows(1)}, errors.New("a.b.bad: boom")
	}}
	c := New(Options{Sources: []Source{src}, Now: clk.Now})
	defer c.Close()
	got := c.Lookup(context.Background(), []string{"a.b.ok", "a.b.bad"})
	if _, ok := got["a.b.bad"]; ok || got["a.b.ok"].Rows != 1 {
		t.Fatalf("got %v", got)
	}
	clk.Advance(DefaultFailureTTL) // the failed table is asked again, the answered one is fresh
	c.Lookup(context.Background(), []string{"a.b.ok", "a.b.bad"})
	waitIdle(t, c)
	equal(t, "calls", src.asked(), [][]string{{"a.b.bad", "a.b.ok"}, {"a.b.bad"}})
}

// Concurrent lookups of the same table share one call.
func TestCatalogSingleflight(t *testing.T) {
	release, open := gate()
	src := &fake{name: "trino", answer: func(context.Context, []string) (map[string]Table, error) {
		<-release
		return map[string]Table{"a.b.c": rows(3)}, nil
	}}
	c := New(Options{Sources: []Source{src}, Timeout: 10 * time.Second})
	t.Cleanup(c.Close)
	t.Cleanup(open)
	const n = 20
	results := make(chan map[string]Table, n)
	for range n {
		go func() { results <- c.Lookup(context.Background(), []string{"a.b.c"}) }()
	}
	eventually(t, "every lookup to wait on the call", func() bool {
		s := stats(t, c, "trino")
		return s.Misses == 1 && s.Joined == n-1
	})
	open()
	for range n {
		if got := <-results; got["a.b.c"].Rows != 3 {
			t.Fatalf("got %v", got)
		}
	}
	equal(t, "calls", src.numCalls(), 1)
}

// Merge across the catalog's sources, policy data first; policy data is
// not cached.
func TestCatalogMerge(t *testing.T) {
	var mu sync.Mutex
	policy := map[string]map[string]any{"tpch.sf1.customer": {"size": "medium", "tags": []any{"pii"}, "owner": "sales"}}
	pd := &PolicyData{Tables: func() map[string]map[string]any {
		mu.Lock()
		defer mu.Unlock()
		return policy
	}}
	trino := &fake{name: "trino", answer: known(map[string]Table{
		"tpch.sf1.customer": {Rows: 1.5e5, RowsKnown: true},
		"tpch.sf1.orders":   {Rows: 1.5e6, RowsKnown: true, Bytes: 2 << 30, BytesKnown: true},
	})}
	om := &fake{name: "openmetadata", answer: known(map[string]Table{
		"tpch.sf1.customer": {Tags: []string{"PII.Sensitive", "pii"}, Owner: "crm"},
		"tpch.sf1.orders":   {Rows: 9, RowsKnown: true, Owner: "finance"},
	})}
	c := New(Options{Sources: []Source{pd, trino, om}})
	defer c.Close()
	ctx := context.Background()
	names := []string{"tpch.sf1.customer", "tpch.sf1.orders", "tpch.sf1.nation", "tpch.sf1.orders"}
	equal(t, "merged", c.Lookup(ctx, names), map[string]Table{
		"tpch.sf1.customer": {Rows: 1.5e5, RowsKnown: true, SizeClass: Medium, Tags: []string{"PII.Sensitive", "pii"},
			Owner: "sales", Sources: []string{"policy", "trino", "openmetadata"}},
		"tpch.sf1.orders": {Rows: 1.5e6, RowsKnown: true, Bytes: 2 << 30, BytesKnown: true, SizeClass: Large,
			Owner: "finance", Sources: []string{"trino", "openmetadata"}},
	})
	// Repeated names are asked once.
	equal(t, "trino asked", trino.asked(), [][]string{{"tpch.sf1.customer", "tpch.sf1.nation", "tpch.sf1.orders"}})

	// A policy reload shows at once.
	mu.Lock()
	policy = map[string]map[string]any{"tpch.sf1.customer": {"size": "huge"}}
	mu.Unlock()
	got := c.Lookup(ctx, []string{"tpch.sf1.customer"})["tpch.sf1.customer"]
	if got.SizeClass != Huge || got.Owner != "crm" {
		t.Fatalf("after the reload: %+v", got)
	}
	equal(t, "trino calls", trino.numCalls(), 1)
}

// Close ends background calls and waits for them; afterwards no call is
// made.
func TestCatalogClose(t *testing.T) {
	clk := newClock()
	started := make(chan struct{}, 1)
	src := &fake{name: "trino", answer: func(ctx context.Context, tables []string) (map[string]Table, error) {
		if tables[0] == "a.b.fast" {
			return map[string]Table{"a.b.fast": rows(1)}, nil
		}
		started <- struct{}{}
		<-ctx.Done() // honours its context
		return nil, ctx.Err()
	}}
	c := New(Options{Sources: []Source{src}, Timeout: 10 * time.Millisecond, Now: clk.Now})
	c.Lookup(context.Background(), []string{"a.b.fast"})
	c.Lookup(context.Background(), []string{"a.b.slow"}) // times out; the call goes on
	<-started
	c.Close()
	src.mu.Lock()
	ended := src.ended
	src.mu.Unlock()
	equal(t, "calls that returned by Close", ended, 2)

	// After Close: cached answers (also stale ones), no calls.
	clk.Advance(time.Hour)
	if got := c.Lookup(context.Background(), []string{"a.b.fast", "a.b.new"}); got["a.b.fast"].Rows != 1 || len(got) != 1 {
		t.Fatalf("got %v", got)
	}
	equal(t, "calls", src.numCalls(), 2)
	if s := stats(t, c, "trino"); s.Skipped != 1 {
		t.Fatalf("stats %+v", s)
	}
	c.Close() // twice is fine
}

// At MaxInFlight calls, a lookup that needs another is answered without
// the source.
func TestCatalogMaxInFlight(t *testing.T) {
	release, open := gate()
	src := &fake{name: "trino", answer: func(context.Context, []string) (map[string]Table, error) {
		<-release
		return nil, nil
	}}
	c := New(Options{Sources: []Source{src}, MaxInFlight: 1, Timeout: 10 * time.Millisecond})
	t.Cleanup(c.Close)
	t.Cleanup(open)
	c.Lookup(context.Background(), []string{"a.b.one"})
	c.Lookup(context.Background(), []string{"a.b.two"})
	if s := stats(t, c, "trino"); s.Calls != 1 || s.Skipped != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// The cache of a source stays within MaxEntries.
func TestCatalogMaxEntries(t *testing.T) {
	clk := newClock()
	src := &fake{name: "trino", answer: func(_ context.Context, tables []string) (map[string]Table, error) {
		out := map[string]Table{}
		for _, t := range tables {
			out[t] = rows(1)
		}
		return out, nil
	}}
	c := New(Options{Sources: []Source{src}, MaxEntries: 10, Now: clk.Now})
	defer c.Close()
	for i := range 50 {
		name := fmt.Sprintf("a.b.t%d", i)
		if got := c.Lookup(context.Background(), []string{name}); got[name].Rows != 1 {
			t.Fatalf("%s: got %v", name, got)
		}
		if n := stats(t, c, "trino").Entries; n > 10 {
			t.Fatalf("%d entries after %d tables", n, i+1)
		}
	}
}

func TestCatalogEmpty(t *testing.T) {
	c := New(Options{})
	defer c.Close()
	if got := c.Lookup(context.Background(), []string{"a.b.c"}); len(got) != 0 {
		t.Fatalf("got %v", got)
	}
	c2 := New(Options{Sources: []Source{&fake{name: "x"}}})
	defer c2.Close()
	if got := c2.Lookup(context.Background(), nil); len(got) != 0 {
		t.Fatalf("got %v", got)
	}
}

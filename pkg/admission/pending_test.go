package admission

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/switchyard-gw/switchyard/pkg/store"
)

// flakyQueries is a memory store that can stop answering, and counts
// writes.
type flakyQueries struct {
	store.Queries
	mu     sync.Mutex
	down   bool
	puts   int
	ttls   map[string]time.Duration
	failed int
}

func newFlaky() *flakyQueries {
	return &flakyQueries{Queries: store.NewMemory().Queries, ttls: map[string]time.Duration{}}
}

func (f *flakyQueries) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

func (f *flakyQueries) PutQuery(ctx context.Context, id string, r store.QueryRoute, ttl time.Duration) error {
	f.mu.Lock()
	if f.down {
		f.failed++
		f.mu.Unlock()
		return errors.New("redis: connection refused")
	}
	f.puts++
	f.ttls[id] = ttl
	f.mu.Unlock()
	return f.Queries.PutQuery(ctx, id, r, ttl)
}

func (f *flakyQueries) GetQuery(ctx context.Context, id string) (store.QueryRoute, error) {
	f.mu.Lock()
	down := f.down
	f.mu.Unlock()
	if down {
		return store.QueryRoute{}, errors.New("redis: connection refused")
	}
	return f.Queries.GetQuery(ctx, id)
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newPending(t *testing.T, q store.Queries, max int) (*PendingRecords, *clock, *bytes.Buffer) {
	t.Helper()
	c := &clock{now: time.Unix(1_700_000_000, 0)}
	var log bytes.Buffer
	p := NewPendingRecords(q, PendingOptions{Max: max, Now: c.Now, Registerer: prometheus.NewRegistry(),
		Logger: slog.New(slog.NewTextHandler(&log, nil))})
	return p, c, &log
}

func route(c string) store.QueryRoute { return store.QueryRoute{Cluster: c, Coordinator: "0"} }

func TestPendingRecordsAreWrittenWhenTheStoreAnswers(t *testing.T) {
	ctx := context.Background()
	f := newFlaky()
	p, c, log := newPending(t, f, 0)
	f.setDown(true)
	for i := range 50 {
		err := p.PutQuery(ctx, fmt.Sprintf("q%d", i), route("a"), time.Hour)
		if !errors.Is(err, ErrDeferred) {
			t.Fatalf("a write to a store that is down: %v, want ErrDeferred", err)
		}
	}
	if n := p.Len(); n != 50 {
		t.Fatalf("%d records pending, want 50", n)
	}
	// While the store is down, this replica still knows the owners.
	if r, err := p.GetQuery(ctx, "q7"); err != nil || r != route("a") {
		t.Fatalf("lookup of a pending record: %+v %v", r, err)
	}
	if p.Flush(ctx) {
		t.Fatal("Flush reported success with the store down")
	}
	f.setDown(false)
	c.advance(10 * time.Minute)
	if !p.Flush(ctx) || p.Len() != 0 {
		t.Fatalf("Flush with the store back: %d left", p.Len())
	}
	for i := range 50 {
		id := fmt.Sprintf("q%d", i)
		if r, err := f.Queries.GetQuery(ctx, id); err != nil || r != route("a") {
			t.Fatalf("%s not written: %+v %v", id, r, err)
		}
		if ttl := f.ttls[id]; ttl != 50*time.Minute {
			t.Fatalf("%s written with ttl %v, want the 50m left of its hour", id, ttl)
		}
	}
	if n := testutil.ToFloat64(p.m.retried); n != 50 {
		t.Errorf("retried counter %v, want 50", n)
	}
	if n := strings.Count(log.String(), "does not take query owners"); n != 1 {
		t.Errorf("51 failed writes logged %d times, want once:\n%s", n, log.String())
	}
	if n := strings.Count(log.String(), "takes query owners again"); n != 1 {
		t.Errorf("the recovery logged %d times, want once:\n%s", n, log.String())
	}
}

func TestPendingRecordsAreBounded(t *testing.T) {
	ctx := context.Background()
	f := newFlaky()
	f.setDown(true)
	p, _, _ := newPending(t, f, 3)
	for i := range 5 {
		_ = p.PutQuery(ctx, fmt.Sprintf("q%d", i), route("a"), time.Hour)
	}
	if n := p.Len(); n != 3 {
		t.Fatalf("%d pending, want the bound 3", n)
	}
	if n := testutil.ToFloat64(p.m.dropped); n != 2 {
		t.Errorf("dropped counter %v, want 2", n)
	}
	for i, want := range []bool{false, false, true, true, true} {
		if _, ok := p.pending(fmt.Sprintf("q%d", i)); ok != want {
			t.Errorf("q%d pending %v, want %v (the oldest are dropped)", i, ok, want)
		}
	}
}

func TestPendingRecordsExpire(t *testing.T) {
	ctx := context.Background()
	f := newFlaky()
	f.setDown(true)
	p, c, _ := newPending(t, f, 0)
	_ = p.PutQuery(ctx, "short", route("a"), time.Minute)
	_ = p.PutQuery(ctx, "long", route("b"), time.Hour)
	c.advance(2 * time.Minute)
	if _, ok := p.pending("short"); ok {
		t.Error("an expired record is still answered")
	}
	f.setDown(false)
	if !p.Flush(ctx) {
		t.Fatal("flush failed")
	}
	if _, err := f.Queries.GetQuery(ctx, "short"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an expired record was written: %v", err)
	}
	if _, err := f.Queries.GetQuery(ctx, "long"); err != nil {
		t.Errorf("a live record was not written: %v", err)
	}
	if n := testutil.ToFloat64(p.m.dropped); n != 1 {
		t.Errorf("dropped counter %v, want 1", n)
	}
}

// A record written directly after it was queued leaves the queue: the
// queue never overwrites it with the older one.
func TestPendingRecordNeverOverwritesANewerOne(t *testing.T) {
	ctx := context.Background()
	f := newFlaky()
	p, _, _ := newPending(t, f, 0)
	f.setDown(true)
	_ = p.PutQuery(ctx, "q", route("old"), time.Hour)
	f.setDown(false)
	if err := p.PutQuery(ctx, "q", route("new"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if !p.Flush(ctx) {
		t.Fatal("flush failed")
	}
	if r, _ := f.Queries.GetQuery(ctx, "q"); r != route("new") {
		t.Fatalf("stored %+v, want the newer record", r)
	}
}

// Run retries with backoff while the store is down and writes the queue
// once it answers.
func TestPendingRunRetries(t *testing.T) {
	f := newFlaky()
	f.setDown(true)
	p := NewPendingRecords(f, PendingOptions{MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	_ = p.PutQuery(ctx, "q", route("a"), time.Hour)
	waitFor(t, "Run to retry while the store is down", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.failed >= 3
	})
	f.setDown(false)
	waitFor(t, "Run to write the record", func() bool { return p.Len() == 0 })
	if r, err := f.Queries.GetQuery(context.Background(), "q"); err != nil || r != route("a") {
		t.Fatalf("stored %+v %v", r, err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// Through the pipeline: a submission while the store is down is recorded
// later, is logged once (not per request) and is located meanwhile.
func TestSubmittedDefersTheOwnerWhileTheStoreIsDown(t *testing.T) {
	f := newFlaky()
	pend, _, _ := newPending(t, f, 0)
	var log bytes.Buffer
	p, m := newPipeline(t, pend, func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(&log, nil)) })
	f.setDown(true)
	ctx := context.Background()
	for i := range 20 {
		s := &Submission{Req: submission("SELECT 1")}
		if o := p.Submit(ctx, s); o.Action != Route {
			t.Fatalf("%+v", o)
		}
		p.Submitted(ctx, s, []byte(fmt.Sprintf(`{"id":"q_%d","nextUri":"http://gw/_sy/a/0/v1/statement/queued/q_%d/x/1"}`, i, i)))
	}
	if n := testutil.ToFloat64(m.StoreError.WithLabelValues("put_query")); n != 20 {
		t.Errorf("put_query errors %v, want 20", n)
	}
	if strings.Contains(log.String(), "recording query owner failed") {
		t.Errorf("a deferred record was logged per request:\n%s", log.String())
	}
	o := p.Locate(ctx, &Request{Method: "GET", Path: "/v1/query/q_3"})
	if o.Action != Route || o.Target != "a/0" {
		t.Fatalf("locating a deferred query: %+v, want its owner a/0", o)
	}
	f.setDown(false)
	if !pend.Flush(ctx) {
		t.Fatal("flush failed")
	}
	if r, err := f.Queries.GetQuery(ctx, "q_3"); err != nil || r.Cluster != "a" {
		t.Fatalf("q_3 in the store: %+v %v", r, err)
	}
}

// slowQueries answers a write only when the caller's context ends.
type slowQueries struct{ store.Queries }

func (slowQueries) PutQuery(ctx context.Context, _ string, _ store.QueryRoute, _ time.Duration) error {
	<-ctx.Done()
	return ctx.Err()
}

// A direct write is bounded by the pending queue's timeout whatever the
// caller's deadline, and the record is kept: the submission's answer is
// never held longer than that (Envoy resets the client past its ext_proc
// message timeout).
func TestPendingBoundsTheDirectWrite(t *testing.T) {
	p := NewPendingRecords(slowQueries{store.NewMemory().Queries}, PendingOptions{Timeout: 10 * time.Millisecond})
	errc := make(chan error, 1)
	go func() { errc <- p.PutQuery(context.Background(), "q", route("a"), time.Hour) }()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrDeferred) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want the write's deadline error marked ErrDeferred", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a write without a caller deadline was not ended by the queue's timeout")
	}
	if _, ok := p.pending("q"); !ok {
		t.Fatal("the record was not kept")
	}
}

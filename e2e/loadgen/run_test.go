package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/e2e/harness"
	"github.com/switchyard-gw/switchyard/e2e/trinosim"
)

// counting wraps a handler and counts its requests by method.
type counting struct {
	h           http.Handler
	posts, gets atomic.Int64
}

func (c *counting) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		c.posts.Add(1)
	} else {
		c.gets.Add(1)
	}
	c.h.ServeHTTP(w, r)
}

// simServer starts an in-process simulator behind wrap (if not nil).
func simServer(t *testing.T, opts trinosim.Options, wrap func(http.Handler) http.Handler) (*httptest.Server, *counting) {
	t.Helper()
	c := &counting{h: trinosim.New(opts)}
	var h http.Handler = c
	if wrap != nil {
		h = wrap(c)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, c
}

// tracker wraps a handler and records what the server saw: when each
// submission arrived, how many requests were in flight at once, how many
// the client abandoned (their context ended before the handler returned)
// and how many queries were served their last page. With hold set,
// submissions wait until it is closed (or the client gives up).
type tracker struct {
	h    http.Handler
	hold chan struct{}

	mu                    sync.Mutex
	posts                 []time.Time
	inFlight, maxInFlight int
	cancelled, finished   int
}

func (tr *tracker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tr.mu.Lock()
	if r.Method == http.MethodPost {
		tr.posts = append(tr.posts, time.Now())
	}
	tr.inFlight++
	tr.maxInFlight = max(tr.maxInFlight, tr.inFlight)
	tr.mu.Unlock()
	// net/http notices a client that hangs up only once the body is read.
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	answered := true
	if r.Method == http.MethodPost && tr.hold != nil {
		select {
		case <-tr.hold:
		case <-r.Context().Done():
			answered = false
		}
	}
	cw := &capture{ResponseWriter: w, status: http.StatusOK}
	if answered {
		tr.h.ServeHTTP(cw, r)
	}
	var page struct {
		NextURI *string `json:"nextUri"`
	}
	final := answered && r.Method == http.MethodGet && cw.status == http.StatusOK && json.Unmarshal(cw.body.Bytes(), &page) == nil && page.NextURI == nil
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.inFlight--
	if final {
		tr.finished++
	}
	if r.Context().Err() != nil {
		tr.cancelled++
	}
}

// snapshot returns the counts under the lock.
func (tr *tracker) snapshot() (posts, maxInFlight, cancelled, finished int) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return len(tr.posts), tr.maxInFlight, tr.cancelled, tr.finished
}

// capture passes a response through, keeping its status and body.
type capture struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (c *capture) WriteHeader(code int) { c.status = code; c.ResponseWriter.WriteHeader(code) }
func (c *capture) Write(b []byte) (int, error) {
	c.body.Write(b)
	return c.ResponseWriter.Write(b)
}

// trackedServer starts an in-process simulator behind a tracker.
func trackedServer(t *testing.T, opts trinosim.Options, hold chan struct{}) (*httptest.Server, *tracker) {
	t.Helper()
	tr := &tracker{h: trinosim.New(opts), hold: hold}
	srv := httptest.NewServer(tr)
	t.Cleanup(srv.Close)
	return srv, tr
}

// waitFor polls cond until it holds, failing the test after 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	err := harness.Poll(context.Background(), what, 10*time.Second, time.Millisecond, func() error {
		if !cond() {
			return errors.New("not yet")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// growWindow runs attempt with a window of 100ms, then twice as long each
// time up to 6.4s, until attempt reports that the run showed what the test
// is about. It is for claims that need something to happen inside a
// wall-clock window (a query started before the deadline): a starved
// machine gets a longer window instead of a flaky failure or a vacuous
// pass. attempt checks the invariants of every run.
func growWindow(t *testing.T, what string, attempt func(window time.Duration) bool) {
	t.Helper()
	for w := 100 * time.Millisecond; w <= 6400*time.Millisecond; w *= 2 {
		if attempt(w) {
			return
		}
		t.Logf("%s: not in a %v window; trying a longer one", what, w)
	}
	t.Fatalf("%s: not even in a 6.4s window", what)
}

// run runs cfg with a deadline so a broken test cannot hang.
func run(t *testing.T, cfg Config) *Results {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Queries != res.Completed+res.Failed+res.Aborted {
		t.Errorf("queries %d != completed %d + failed %d + aborted %d", res.Queries, res.Completed, res.Failed, res.Aborted)
	}
	return res
}

// checkClean asserts a run in which every query completed without error.
func checkClean(t *testing.T, res *Results, queries, perQuery int64) {
	t.Helper()
	if res.Queries != queries || res.Completed != queries || res.Failed != 0 || res.Aborted != 0 {
		t.Errorf("queries %d completed %d failed %d aborted %d; want %d completed", res.Queries, res.Completed, res.Failed, res.Aborted, queries)
	}
	if res.Requests != queries*perQuery {
		t.Errorf("requests %d, want %d (%d queries × %d)", res.Requests, queries*perQuery, queries, perQuery)
	}
	if len(res.Errors) != 0 || res.Retries != 0 {
		t.Errorf("errors %v retries %d, want none", res.Errors, res.Retries)
	}
	lat := res.Latency
	if lat[KindSubmit].Count != queries || lat[KindPoll].Count != queries*(perQuery-1) || lat[KindQuery].Count != queries {
		t.Errorf("latency counts submit %d poll %d query %d; want %d, %d, %d",
			lat[KindSubmit].Count, lat[KindPoll].Count, lat[KindQuery].Count, queries, queries*(perQuery-1), queries)
	}
	for kind, s := range lat {
		if s.P50 <= 0 || s.P50 > s.P99 || s.P99 > s.Max || s.Mean <= 0 {
			t.Errorf("%s latency %+v is not plausible", kind, s)
		}
	}
	if res.QueriesPerSecond <= 0 || res.RequestsPerSecond < res.QueriesPerSecond || res.WindowSeconds <= 0 {
		t.Errorf("rates %v q/s, %v req/s over %vs", res.QueriesPerSecond, res.RequestsPerSecond, res.WindowSeconds)
	}
}

func TestClosedLoop(t *testing.T) {
	srv, sim := simServer(t, trinosim.Options{Pages: 2, QueuedPolls: 2, RowsPerPage: 5}, nil)
	res := run(t, Config{URL: srv.URL, Concurrency: 4, MaxQueries: 40})
	checkClean(t, res, 40, 1+2+2)
	if res.Mode != "closed" || res.Concurrency != 4 {
		t.Errorf("mode %s concurrency %d", res.Mode, res.Concurrency)
	}
	if got := sim.posts.Load(); got != 40 {
		t.Errorf("the simulator saw %d submissions, want 40", got)
	}
}

// TestOpenLoop: the open loop starts queries on its schedule, never
// earlier: the k-th submission the server sees arrives at least k/Rate
// after the run started (load on the machine only makes it later).
func TestOpenLoop(t *testing.T) {
	const rate, queries = 500, 25
	srv, tr := trackedServer(t, trinosim.Options{}, nil)
	before := time.Now()
	res := run(t, Config{URL: srv.URL, Rate: rate, MaxInFlight: 100, MaxQueries: queries})
	checkClean(t, res, queries, 1+trinosim.DefaultQueuedPolls+trinosim.DefaultPages)
	if res.Mode != "open" || res.Rate != rate || res.Dropped != 0 {
		t.Errorf("mode %s rate %v dropped %d", res.Mode, res.Rate, res.Dropped)
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if len(tr.posts) != queries {
		t.Fatalf("the server saw %d submissions, want %d", len(tr.posts), queries)
	}
	slices.SortFunc(tr.posts, time.Time.Compare)
	for k, at := range tr.posts {
		if due := before.Add(time.Duration(float64(k) * float64(time.Second) / rate)); at.Before(due) {
			t.Errorf("submission %d arrived %v after the start, before its scheduled start at %v", k, at.Sub(before), due.Sub(before))
		}
	}
}

// TestOpenLoopDoesNotWaitForCompletions: the open loop keeps starting
// queries while earlier ones are still unanswered (a closed loop of one
// worker would send one and wait).
func TestOpenLoopDoesNotWaitForCompletions(t *testing.T) {
	const queries = 5
	hold := make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(hold) }) }
	srv, tr := trackedServer(t, trinosim.Options{}, hold)
	t.Cleanup(release) // runs before the server closes
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	type outcome struct {
		res *Results
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := Run(ctx, Config{URL: srv.URL, Rate: 1000, MaxInFlight: 10, MaxQueries: queries})
		done <- outcome{res, err}
	}()
	waitFor(t, "all submissions in flight together", func() bool { _, inFlight, _, _ := tr.snapshot(); return inFlight == queries })
	release()
	o := <-done
	if o.err != nil {
		t.Fatalf("Run: %v", o.err)
	}
	checkClean(t, o.res, queries, 1+trinosim.DefaultQueuedPolls+trinosim.DefaultPages)
}

// TestOpenLoopDropsAtTheCap: with MaxInFlight queries unanswered, every
// further start is dropped and counted, and the server never sees more
// than MaxInFlight queries at once.
func TestOpenLoopDropsAtTheCap(t *testing.T) {
	// Every request is delayed for an hour (until the client gives up), and
	// a start is due every 100µs.
	growWindow(t, "two queries started and many starts dropped", func(window time.Duration) bool {
		srv, tr := trackedServer(t, trinosim.Options{Delay: time.Hour}, nil)
		res := run(t, Config{URL: srv.URL, Rate: 10000, MaxInFlight: 2, Duration: window})
		if res.Queries > 2 || res.Aborted != res.Queries || res.Completed != 0 {
			t.Errorf("queries %d aborted %d completed %d; want at most 2 (MaxInFlight) started, all aborted", res.Queries, res.Aborted, res.Completed)
		}
		waitFor(t, "the server sees every query abandoned", func() bool { posts, _, cancelled, _ := tr.snapshot(); return cancelled == posts })
		if posts, inFlight, _, _ := tr.snapshot(); inFlight > 2 || int64(posts) > res.Queries {
			t.Errorf("the server saw %d submissions, %d at once; want at most %d, and 2 (MaxInFlight) at once", posts, inFlight, res.Queries)
		}
		return res.Queries == 2 && res.Dropped >= 10
	})
}

func TestWarmupExcluded(t *testing.T) {
	const queries, perQuery = 10, 1 + 1 + 1
	// A warm-up query runs to its end, counted by the server and excluded
	// from the results; the warm-up only has to start one.
	growWindow(t, "a warm-up query", func(warmup time.Duration) bool {
		srv, sim := simServer(t, trinosim.Options{Pages: 1, RowsPerPage: 1}, nil)
		res := run(t, Config{URL: srv.URL, Concurrency: 2, Warmup: warmup, MaxQueries: queries})
		checkClean(t, res, queries, perQuery)
		total := sim.posts.Load() + sim.gets.Load()
		if want := (res.WarmupQueries + queries) * perQuery; total != want {
			t.Errorf("the simulator saw %d requests, want %d (warm-up %d + %d queries × %d)", total, want, res.WarmupQueries, queries, perQuery)
		}
		return res.WarmupQueries > 0
	})
}

func TestRetriesOn503(t *testing.T) {
	var injected atomic.Int64
	var gets atomic.Int64
	wrap := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && gets.Add(1)%3 == 0 {
				injected.Add(1)
				http.Error(w, "overloaded", http.StatusServiceUnavailable)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	srv, _ := simServer(t, trinosim.Options{Pages: 2}, wrap)
	res := run(t, Config{URL: srv.URL, Concurrency: 2, MaxQueries: 6,
		RetryBackoffMin: time.Millisecond, RetryBackoffMax: 2 * time.Millisecond})
	n := injected.Load()
	if n == 0 {
		t.Fatal("no 503 was injected")
	}
	if res.Completed != 6 || res.Errors["http_503"] != n || res.Retries != n {
		t.Errorf("completed %d, http_503 %d, retries %d; want 6 completed and %d 503s retried", res.Completed, res.Errors["http_503"], res.Retries, n)
	}
	const perQuery = 1 + 1 + 2
	if res.Requests != 6*perQuery+n || res.Latency[KindPoll].Count != 6*(perQuery-1)+n {
		t.Errorf("requests %d, polls %d; want %d and %d", res.Requests, res.Latency[KindPoll].Count, 6*perQuery+n, 6*(perQuery-1)+n)
	}
}

func TestRetriesExhausted(t *testing.T) {
	wrap := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet {
				w.WriteHeader(http.StatusBadGateway)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	srv, _ := simServer(t, trinosim.Options{}, wrap)
	res := run(t, Config{URL: srv.URL, MaxQueries: 2, MaxRetries: 2,
		RetryBackoffMin: time.Millisecond, RetryBackoffMax: time.Millisecond})
	if res.Failed != 2 || res.Errors["http_502"] != 2*3 || res.Retries != 2*2 {
		t.Errorf("failed %d, http_502 %d, retries %d; want 2, 6, 4", res.Failed, res.Errors["http_502"], res.Retries)
	}
}

func TestErrorKinds(t *testing.T) {
	tests := []struct {
		name    string
		post    func(w http.ResponseWriter) // nil: the simulator answers
		opts    trinosim.Options
		maxBody int64
		wantErr string
		perQ    int64 // requests per query
	}{
		{"POST 503 is not retried", func(w http.ResponseWriter) { w.WriteHeader(http.StatusServiceUnavailable) }, trinosim.Options{}, 0, "http_503", 1},
		{"bad JSON", func(w http.ResponseWriter) { _, _ = w.Write([]byte("not json")) }, trinosim.Options{}, 0, ErrProtocol, 1},
		{"missing id", func(w http.ResponseWriter) { _, _ = w.Write([]byte(`{"stats":{"state":"QUEUED"}}`)) }, trinosim.Options{}, 0, ErrProtocol, 1},
		{"bad nextUri", func(w http.ResponseWriter) { _, _ = w.Write([]byte(`{"id":"x","nextUri":"::"}`)) }, trinosim.Options{}, 0, ErrProtocol, 1},
		{"body too large", nil, trinosim.Options{}, 10, ErrProtocol, 1},
		{"query fails", nil, trinosim.Options{FailQuery: func(string) bool { return true }}, 0, "trino_SYNTAX_ERROR", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wrap := func(h http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.Method == http.MethodPost && tt.post != nil {
						tt.post(w)
						return
					}
					h.ServeHTTP(w, r)
				})
			}
			srv, _ := simServer(t, tt.opts, wrap)
			res := run(t, Config{URL: srv.URL, MaxQueries: 3, MaxBodyBytes: tt.maxBody})
			if res.Failed != 3 || res.Completed != 0 || res.Errors[tt.wantErr] != 3 || len(res.Errors) != 1 || res.Retries != 0 {
				t.Errorf("failed %d completed %d errors %v retries %d; want 3 failed with %s", res.Failed, res.Completed, res.Errors, res.Retries, tt.wantErr)
			}
			if res.Requests != 3*tt.perQ {
				t.Errorf("requests %d, want %d", res.Requests, 3*tt.perQ)
			}
			if res.Latency[KindQuery].Count != 0 {
				t.Errorf("failed queries recorded a query latency")
			}
		})
	}
}

func TestTransportError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	res := run(t, Config{URL: url, MaxQueries: 3})
	if res.Failed != 3 || res.Errors[ErrTransport] != 3 || res.Requests != 3 {
		t.Errorf("failed %d, errors %v, requests %d; want 3 transport errors", res.Failed, res.Errors, res.Requests)
	}
}

// TestDurationBound: Duration ends the run. Queries still running at the
// deadline are aborted (the server sees them abandoned) without counting
// as errors, the window is exactly the configured duration, and a query
// the server finished is counted as completed.
func TestDurationBound(t *testing.T) {
	const concurrency = 4
	check := func(res *Results, window time.Duration) {
		t.Helper()
		if res.Interrupted || res.WindowSeconds != window.Seconds() {
			t.Errorf("interrupted %v, window %vs; want a complete run of %vs", res.Interrupted, res.WindowSeconds, window.Seconds())
		}
		if res.Failed != 0 || len(res.Errors) != 0 {
			t.Errorf("failed %d, errors %v: aborting at the deadline is not an error", res.Failed, res.Errors)
		}
		if res.Aborted > concurrency || res.Completed+res.Aborted != res.Queries {
			t.Errorf("queries %d, completed %d, aborted %d; want every query completed or aborted, at most %d (one per worker) aborted",
				res.Queries, res.Completed, res.Aborted, concurrency)
		}
	}
	t.Run("server never answers", func(t *testing.T) {
		growWindow(t, "a query aborted at the deadline", func(window time.Duration) bool {
			srv, tr := trackedServer(t, trinosim.Options{Delay: time.Hour}, nil)
			res := run(t, Config{URL: srv.URL, Concurrency: concurrency, Duration: window, RequestTimeout: time.Hour})
			check(res, window)
			if res.Completed != 0 || res.Queries > concurrency {
				t.Errorf("queries %d completed %d; want at most one per worker, none completed", res.Queries, res.Completed)
			}
			waitFor(t, "the server sees every submission abandoned", func() bool { posts, _, cancelled, _ := tr.snapshot(); return cancelled == posts })
			posts, _, _, _ := tr.snapshot()
			if int64(posts) > res.Queries {
				t.Errorf("the server saw %d submissions of %d queries", posts, res.Queries)
			}
			return res.Aborted > 0 && posts > 0
		})
	})
	t.Run("server answers", func(t *testing.T) {
		growWindow(t, "a query completed in the window", func(window time.Duration) bool {
			srv, tr := trackedServer(t, trinosim.Options{Pages: 1, RowsPerPage: 1}, nil)
			res := run(t, Config{URL: srv.URL, Concurrency: concurrency, Duration: window})
			check(res, window)
			// A worker can have one query finished by the server but not yet
			// read when the run ends; every other one counts as completed.
			_, _, _, finished := tr.snapshot()
			if res.Completed > int64(finished) || res.Completed < int64(finished)-concurrency {
				t.Errorf("completed %d, the server finished %d; want at most %d fewer", res.Completed, finished, concurrency)
			}
			return res.Completed > 0
		})
	})
}

// TestContextCancelStopsPromptly: cancelling the context ends the run at
// once, without waiting for the server's hour-long answers: every request
// in flight is abandoned (the server sees it), no cancellation DELETE is
// sent, and the partial results come with context.Canceled.
func TestContextCancelStopsPromptly(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var deletes atomic.Int64
	tr := &tracker{h: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete {
			deletes.Add(1)
		}
		cancel()
		<-r.Context().Done() // answers only when the request ends
	})}
	srv := httptest.NewServer(tr)
	t.Cleanup(srv.Close)
	done := make(chan struct{})
	var res *Results
	var err error
	go func() {
		defer close(done)
		res, err = Run(ctx, Config{URL: srv.URL, Concurrency: 3, Duration: time.Hour, RequestTimeout: time.Hour})
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second): // a hang guard: the answers would take an hour
		t.Fatal("Run did not return after cancellation")
	}
	if !errors.Is(err, context.Canceled) || res == nil || !res.Interrupted {
		t.Fatalf("err %v, results %+v; want context.Canceled with interrupted results", err, res)
	}
	if res.Queries < 1 || res.Aborted != res.Queries || len(res.Errors) != 0 {
		t.Errorf("queries %d aborted %d errors %v; want every query aborted, no errors", res.Queries, res.Aborted, res.Errors)
	}
	waitFor(t, "the server sees every request abandoned", func() bool { posts, _, cancelled, _ := tr.snapshot(); return posts >= 1 && cancelled == posts })
	if n := deletes.Load(); n != 0 {
		t.Errorf("%d DELETEs sent after the caller cancelled, want none", n)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []Config{
		{URL: "http://x"},
		{URL: "ftp://x", MaxQueries: 1},
		{URL: "x", MaxQueries: 1},
		{URL: "http://x", MaxQueries: 1, Rate: -1},
	} {
		if _, err := Run(context.Background(), cfg); err == nil {
			t.Errorf("Run(%+v) succeeded, want a configuration error", cfg)
		}
	}
}

func TestRunSamplesProcesses(t *testing.T) {
	srv, _ := simServer(t, trinosim.Options{}, nil)
	res := run(t, Config{URL: srv.URL, MaxQueries: 5, PIDs: map[string]int{"self": os.Getpid()}, SampleInterval: 5 * time.Millisecond})
	p, ok := res.Processes["self"]
	if !ok || p.PeakRSSBytes <= 0 || p.Error != "" || p.PID != os.Getpid() {
		t.Fatalf("processes %+v", res.Processes)
	}
	if !strings.Contains(string(mustJSON(t, res)), `"peak_rss_bytes"`) {
		t.Error("results JSON lacks the process accounting")
	}
}

func TestRewriteNextURI(t *testing.T) {
	srv, _ := simServer(t, trinosim.Options{}, nil)
	// The simulator puts the forwarded prefix into its URIs but, like a
	// coordinator, does not serve it: without the rewrite every poll fails.
	hdr := http.Header{"X-Forwarded-Prefix": {"/_sy/a/0"}}
	res := run(t, Config{URL: srv.URL, MaxQueries: 2, Headers: hdr})
	if res.Failed != 2 || res.Errors["http_404"] != 2 {
		t.Fatalf("without rewrite: failed %d errors %v; want two 404s", res.Failed, res.Errors)
	}
	var rewrites atomic.Int64
	strip := func(uri string) string {
		rewrites.Add(1)
		return strings.Replace(uri, "/_sy/a/0/", "/", 1)
	}
	res = run(t, Config{URL: srv.URL, MaxQueries: 2, Headers: hdr, RewriteNextURI: strip})
	checkClean(t, res, 2, 1+trinosim.DefaultQueuedPolls+trinosim.DefaultPages)
	if n := rewrites.Load(); n != 2*(trinosim.DefaultQueuedPolls+trinosim.DefaultPages) {
		t.Fatalf("%d rewrites, want one per poll", n)
	}
}

// TestSubmitUpstreamTime: Envoy's x-envoy-upstream-service-time on a
// submission's answer is recorded as the coordinator's share; answers
// without it record nothing.
func TestSubmitUpstreamTime(t *testing.T) {
	srv, _ := simServer(t, trinosim.Options{Pages: 1, RowsPerPage: 1}, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost {
				w.Header().Set("X-Envoy-Upstream-Service-Time", "7")
			}
			h.ServeHTTP(w, r)
		})
	})
	res := run(t, Config{URL: srv.URL, Concurrency: 2, MaxQueries: 10})
	up, ok := res.Latency[KindSubmitUpstream]
	if !ok || up.Count != 10 || up.P50 < 6900 || up.P50 > 7100 {
		t.Fatalf("upstream latency %+v (%v), want 10 answers of 7 ms", up, ok)
	}
	plain, _ := simServer(t, trinosim.Options{Pages: 1, RowsPerPage: 1}, nil)
	if res := run(t, Config{URL: plain.URL, Concurrency: 2, MaxQueries: 4}); res.Latency[KindSubmitUpstream].Count != 0 {
		t.Fatalf("recorded %+v without the header", res.Latency[KindSubmitUpstream])
	}
}

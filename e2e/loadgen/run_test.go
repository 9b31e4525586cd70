package loadgen

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

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

func TestOpenLoop(t *testing.T) {
	srv, _ := simServer(t, trinosim.Options{}, nil)
	res := run(t, Config{URL: srv.URL, Rate: 500, MaxInFlight: 100, MaxQueries: 25})
	checkClean(t, res, 25, 1+trinosim.DefaultQueuedPolls+trinosim.DefaultPages)
	if res.Mode != "open" || res.Rate != 500 || res.Dropped != 0 {
		t.Errorf("mode %s rate %v dropped %d", res.Mode, res.Rate, res.Dropped)
	}
}

func TestOpenLoopDropsAtTheCap(t *testing.T) {
	// Every request is delayed for an hour, so after MaxInFlight
	// starts every further start is dropped until the run ends.
	srv, _ := simServer(t, trinosim.Options{Delay: time.Hour}, nil)
	res := run(t, Config{URL: srv.URL, Rate: 1000, MaxInFlight: 2, Duration: 100 * time.Millisecond})
	if res.Queries != 2 || res.Aborted != 2 || res.Dropped < 10 {
		t.Errorf("queries %d aborted %d dropped %d; want 2 started and aborted, many dropped", res.Queries, res.Aborted, res.Dropped)
	}
}

func TestWarmupExcluded(t *testing.T) {
	srv, sim := simServer(t, trinosim.Options{Pages: 1, RowsPerPage: 1}, nil)
	res := run(t, Config{URL: srv.URL, Concurrency: 2, Warmup: 30 * time.Millisecond, MaxQueries: 10})
	const perQuery = 1 + 1 + 1
	checkClean(t, res, 10, perQuery)
	if res.WarmupQueries == 0 {
		t.Fatal("no warm-up queries ran")
	}
	total := sim.posts.Load() + sim.gets.Load()
	if want := (res.WarmupQueries + 10) * perQuery; total != want {
		t.Errorf("the simulator saw %d requests, want %d (warm-up %d + 10 queries × %d)", total, want, res.WarmupQueries, perQuery)
	}
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

func TestDurationBound(t *testing.T) {
	srv, _ := simServer(t, trinosim.Options{Delay: 2 * time.Millisecond}, nil)
	started := time.Now()
	res := run(t, Config{URL: srv.URL, Concurrency: 4, Duration: 100 * time.Millisecond})
	if el := time.Since(started); el > 3*time.Second {
		t.Errorf("a 100ms run took %v", el)
	}
	if res.Completed == 0 {
		t.Error("no query completed")
	}
	if res.WindowSeconds < 0.099 || res.WindowSeconds > 0.101 {
		t.Errorf("window %vs, want 0.1s", res.WindowSeconds)
	}
	if len(res.Errors) != 0 {
		t.Errorf("errors %v: aborting at the deadline is not an error", res.Errors)
	}
}

func TestContextCancelStopsPromptly(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wrap := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			cancel()
			h.ServeHTTP(w, r) // delays for an hour unless the request ends
		})
	}
	srv, _ := simServer(t, trinosim.Options{Delay: time.Hour}, wrap)
	done := make(chan struct{})
	var res *Results
	var err error
	go func() {
		defer close(done)
		res, err = Run(ctx, Config{URL: srv.URL, Concurrency: 3, Duration: time.Hour})
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5s of cancellation")
	}
	if !errors.Is(err, context.Canceled) || res == nil || !res.Interrupted {
		t.Fatalf("err %v, results %+v; want context.Canceled with interrupted results", err, res)
	}
	if res.Aborted != res.Queries || len(res.Errors) != 0 {
		t.Errorf("queries %d aborted %d errors %v", res.Queries, res.Aborted, res.Errors)
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

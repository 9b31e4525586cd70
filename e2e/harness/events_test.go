package harness_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/e2e/harness"
	"github.com/switchyard-gw/switchyard/pkg/events"
)

// -events.fixtures writes the events TestTrinoQueryEvents receives as
// pkg/events' fixtures: go test ./e2e/harness -run TestTrinoQueryEvents
// -events.fixtures=../../pkg/events/testdata
var fixturesDir = flag.String("events.fixtures", "", "write the real Trino events of TestTrinoQueryEvents into this directory")

// TestTrinoQueryEvents runs one real Trino from the harness: its HTTP
// event listener posts each query's created and completed events to the
// Env's relay, which forwards them to pkg/events.Handler. It checks what
// Trino reported for a successful and two failed queries, that a dropped
// event never arrives, and that an event the control plane could not
// record (503) is sent again by Trino.
func TestTrinoQueryEvents(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	env := trinoEnv(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Log("\n" + harness.Dump(env.Procs(), 60))
		}
		env.StopAll()
	})
	relay, err := env.Events()
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := env.Events(); again != relay {
		t.Fatal("Env.Events started a second relay")
	}
	start := time.Now()
	tr, err := env.StartTrino("trino-events", harness.TrinoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if tr.EventSecret != "events-secret-trino-events" {
		t.Fatalf("EventSecret = %q, want events-secret-trino-events", tr.EventSecret)
	}
	rec := &recordingSink{}
	srv := httptest.NewServer(rec.capture(events.Handler(events.Options{
		Secrets: map[string]string{tr.EventSecret: "a"},
		Sink:    rec,
		Logger:  slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
	})))
	t.Cleanup(srv.Close) // before StopAll: nothing logs after the test
	if err := tr.WaitReady(ctx, 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	t.Logf("trino ready in %v", time.Since(start).Round(time.Second))
	relay.Add(srv.URL + events.Path)

	// A successful query: the created and the completed event arrive,
	// with what Trino measured.
	ok, err := runQuery(ctx, tr.URL, "alice", "SELECT regionkey, count(*) FROM tpch.tiny.nation GROUP BY regionkey",
		map[string]string{"X-Trino-Source": "events-test", "X-Trino-Client-Tags": "etl,nightly", "X-Trino-Catalog": "tpch", "X-Trino-Schema": "tiny"})
	if err != nil {
		t.Fatal(err)
	}
	created, completed := rec.wait(t, ctx, ok, events.Created), rec.wait(t, ctx, ok, events.Completed)
	if created.cluster != "a" || completed.cluster != "a" {
		t.Errorf("events named clusters %q and %q, want a", created.cluster, completed.cluster)
	}
	if c := created.e; c.QueryID != ok || c.State != "QUEUED" || c.User != "alice" || !c.EndTime.IsZero() || c.CPUTime != 0 {
		t.Errorf("created event: %+v", c)
	}
	c := completed.e
	if c.QueryID != ok || c.User != "alice" || c.State != "FINISHED" || c.CPUTime <= 0 {
		t.Errorf("completed event: query %s user %q state %s cpuTime %v; want %s alice FINISHED and cpuTime > 0", c.QueryID, c.User, c.State, c.CPUTime, ok)
	}
	if c.OutputRows != 5 || c.Source != "events-test" || strings.Join(c.ClientTags, ",") != "etl,nightly" || c.Catalog != "tpch" || c.Schema != "tiny" || c.Failed() {
		t.Errorf("completed event: %+v", c)
	}
	if c.WallTime < c.CPUTime/4 || c.EndTime.Before(c.CreateTime) || c.CreateTime.IsZero() {
		t.Errorf("completed event times: %+v", c)
	}
	t.Logf("completed %s: cpu %v, wall %v, queued %v, %d rows", c.QueryID, c.CPUTime, c.WallTime, c.QueuedTime, c.OutputRows)

	// Two failed queries: at run time and at analysis.
	for _, q := range []struct{ sql, errorName, fixture string }{
		{"SELECT 1/0", "DIVISION_BY_ZERO", "completed_division_by_zero.json"},
		{"SELECT * FROM tpch.tiny.missing", "TABLE_NOT_FOUND", "completed_table_not_found.json"},
	} {
		id, err := runQuery(ctx, tr.URL, "bob", q.sql, nil)
		if err == nil || !strings.Contains(err.Error(), q.errorName) {
			t.Fatalf("%s: %v, want %s", q.sql, err, q.errorName)
		}
		rec.wait(t, ctx, id, events.Created)
		f := rec.wait(t, ctx, id, events.Completed).e
		if f.User != "bob" || f.State != "FAILED" || f.ErrorName != q.errorName || f.ErrorType != "USER_ERROR" || f.ErrorCode == 0 || f.FailureMessage == "" {
			t.Errorf("%s: completed event %+v", q.sql, f)
		}
		rec.fixture(id, events.Completed, q.fixture)
	}
	rec.fixture(ok, events.Created, "created.json")
	rec.fixture(ok, events.Completed, "completed_finished.json")
	if *fixturesDir != "" {
		if err := rec.writeFixtures(*fixturesDir); err != nil {
			t.Fatal(err)
		}
	}

	// Lost events: the relay swallows both events of a query.
	relay.SetDrop(true)
	dropped := relay.Dropped()
	lost, err := runQuery(ctx, tr.URL, "carol", "SELECT 1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := harness.Poll(ctx, "the relay to drop both events", time.Minute, 50*time.Millisecond, func() error {
		if n := relay.Dropped() - dropped; n < 2 {
			return fmt.Errorf("%d dropped", n)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	relay.SetDrop(false)
	if got := rec.of(lost); len(got) != 0 {
		t.Errorf("dropped events of %s reached the handler: %d", lost, len(got))
	}

	// The control plane cannot record an event (503): Trino's listener
	// sends it again.
	rec.failNext.Store(1)
	failedBefore := relay.Failed()
	retried, err := runQuery(ctx, tr.URL, "dave", "SELECT 2", nil)
	if err != nil {
		t.Fatal(err)
	}
	rec.wait(t, ctx, retried, events.Created)
	rec.wait(t, ctx, retried, events.Completed)
	if relay.Failed() <= failedBefore {
		t.Errorf("the relay saw no refused delivery (failed %d before, %d after)", failedBefore, relay.Failed())
	}
	t.Logf("relay: %d received, %d forwarded, %d failed, %d dropped", relay.Received(), relay.Forwarded(), relay.Failed(), relay.Dropped())
}

// TestEventRelay checks the relay alone: it forwards an event's body and
// headers to every target, answers 200 without a target, swallows events
// under SetDrop, passes a target's refusal back, and stops.
func TestEventRelay(t *testing.T) {
	relay, err := harness.StartEventRelay()
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Stop()
	type got struct {
		path, contentType, secret, body string
	}
	var mu sync.Mutex
	seen := map[string][]got{}
	var status atomic.Int32
	status.Store(http.StatusOK)
	target := func(name string) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			seen[name] = append(seen[name], got{r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get(harness.EventSecretHeader), string(b)})
			mu.Unlock()
			if name == "b" {
				w.WriteHeader(int(status.Load()))
			}
		}))
		t.Cleanup(s.Close)
		return s
	}
	a, b := target("a"), target("b")
	post := func(body string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, relay.IngestURL(), strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		req.Header.Set(harness.EventSecretHeader, "s3cret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	count := func(name string) int {
		mu.Lock()
		defer mu.Unlock()
		return len(seen[name])
	}

	steps := []struct {
		name       string
		do         func()
		want       int
		wantA      int // events target a has seen after the step
		wantB      int
		recv, fwd  int64
		fail, drop int64
	}{
		{"no target", func() {}, 200, 0, 0, 1, 0, 0, 0},
		{"two targets", func() {
			relay.Add(a.URL + "/events/trino")
			relay.Add(b.URL + "/x")
			relay.Add(a.URL + "/events/trino")
		}, 200, 1, 1, 2, 2, 0, 0},
		{"dropped", func() { relay.SetDrop(true) }, 200, 1, 1, 3, 2, 0, 1},
		{"target refuses", func() { relay.SetDrop(false); status.Store(http.StatusServiceUnavailable) }, 503, 2, 2, 4, 3, 1, 1},
		{"target removed", func() { relay.Remove(b.URL + "/x") }, 200, 3, 2, 5, 4, 1, 1},
	}
	for _, s := range steps {
		s.do()
		if code := post(`{"metadata":{"queryId":"q"}}`); code != s.want {
			t.Errorf("%s: relay answered %d, want %d", s.name, code, s.want)
		}
		if count("a") != s.wantA || count("b") != s.wantB {
			t.Errorf("%s: targets saw %d and %d events, want %d and %d", s.name, count("a"), count("b"), s.wantA, s.wantB)
		}
		if relay.Received() != s.recv || relay.Forwarded() != s.fwd || relay.Failed() != s.fail || relay.Dropped() != s.drop {
			t.Errorf("%s: received %d forwarded %d failed %d dropped %d, want %d %d %d %d", s.name,
				relay.Received(), relay.Forwarded(), relay.Failed(), relay.Dropped(), s.recv, s.fwd, s.fail, s.drop)
		}
	}
	want := got{"/events/trino", "application/json; charset=utf-8", "s3cret", `{"metadata":{"queryId":"q"}}`}
	if seen["a"][0] != want {
		t.Errorf("target a got %+v, want %+v", seen["a"][0], want)
	}
	if seen["b"][0].path != "/x" {
		t.Errorf("target b got path %q, want /x", seen["b"][0].path)
	}
	if resp, err := http.Get(relay.IngestURL()); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %v %v, want 405", resp, err)
	} else {
		resp.Body.Close()
	}
	relay.Stop()
	relay.Stop()
	if _, err := http.Post(relay.IngestURL(), "application/json", strings.NewReader("{}")); err == nil {
		t.Error("the stopped relay still answers")
	}
}

// recorded is one event the handler accepted.
type recorded struct {
	cluster string
	e       *events.Event
}

// recordingSink keeps what the handler ingests; failNext makes that many
// Ingest calls fail first. capture also keeps the raw bodies for
// -events.fixtures.
type recordingSink struct {
	failNext atomic.Int32

	mu       sync.Mutex
	got      []recorded
	raw      map[string][]byte // queryID/kind -> body
	fixtures map[string]string // file -> queryID/kind
}

func (s *recordingSink) Ingest(_ context.Context, cluster string, e *events.Event) error {
	if s.failNext.Add(-1) >= 0 {
		return errors.New("the store is down")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, recorded{cluster, e})
	return nil
}

func (s *recordingSink) capture(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if e, err := events.Parse(body); err == nil {
			s.mu.Lock()
			if s.raw == nil {
				s.raw = map[string][]byte{}
			}
			s.raw[e.QueryID+"/"+string(e.Kind)] = body
			s.mu.Unlock()
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		h.ServeHTTP(w, r)
	})
}

// of returns the events of a query.
func (s *recordingSink) of(queryID string) []recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []recorded
	for _, r := range s.got {
		if r.e.QueryID == queryID {
			out = append(out, r)
		}
	}
	return out
}

// wait waits for the event of a kind of a query.
func (s *recordingSink) wait(t *testing.T, ctx context.Context, queryID string, kind events.Kind) recorded {
	t.Helper()
	var found recorded
	err := harness.Poll(ctx, fmt.Sprintf("the %s event of %s", kind, queryID), time.Minute, 50*time.Millisecond, func() error {
		for _, r := range s.of(queryID) {
			if r.e.Kind == kind {
				found = r
				return nil
			}
		}
		return errors.New("not received")
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// fixture names the file the raw event of a query and kind goes to.
func (s *recordingSink) fixture(queryID string, kind events.Kind, file string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fixtures == nil {
		s.fixtures = map[string]string{}
	}
	s.fixtures[file] = queryID + "/" + string(kind)
}

func (s *recordingSink) writeFixtures(dir string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for file, key := range s.fixtures {
		b, ok := s.raw[key]
		if !ok {
			return fmt.Errorf("fixture %s: no raw event %s", file, key)
		}
		if err := os.WriteFile(filepath.Join(dir, file), append(bytes.TrimSpace(b), '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// runQuery runs sql to its end and returns the query ID, with the error
// the query failed with.
func runQuery(ctx context.Context, server, user, sql string, headers map[string]string) (string, error) {
	qr, err := harness.Submit(ctx, server, user, sql, headers)
	if err != nil {
		return "", err
	}
	id := qr.ID
	for i := 0; qr.NextURI != "" && qr.Error == nil; i++ {
		if i > 10000 {
			return id, fmt.Errorf("query %s: too many pages", id)
		}
		if qr, err = harness.Fetch(ctx, http.MethodGet, qr.NextURI); err != nil {
			return id, err
		}
	}
	if qr.Error != nil {
		return id, fmt.Errorf("query %s failed: %s: %s", id, qr.Error.ErrorName, qr.Error.Message)
	}
	return id, nil
}

// trinoEnv is an Env for Trino alone: unlike harness.NewEnv it does not
// build the switchyard binary.
func trinoEnv(t *testing.T) *harness.Env {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cache := os.Getenv("SWITCHYARD_CACHE")
	if cache == "" {
		cache = filepath.Join(root, ".cache")
	}
	jh, err := os.ReadFile(filepath.Join(cache, "java_home"))
	if err != nil {
		t.Fatalf("components are not installed (%v): run make setup", err)
	}
	versions, err := os.ReadFile(filepath.Join(root, "deploy", "versions.env"))
	if err != nil {
		t.Fatal(err)
	}
	e := &harness.Env{Root: root, Cache: cache, JavaHome: strings.TrimSpace(string(jh)), Dir: t.TempDir(), Versions: map[string]string{}}
	for _, line := range strings.Split(string(versions), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok && !strings.HasPrefix(k, "#") {
			e.Versions[k] = v
		}
	}
	if _, err := os.Stat(e.TrinoServerDir()); err != nil {
		t.Fatalf("trino is not installed (%v): run make setup", err)
	}
	return e
}

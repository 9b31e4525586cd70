package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/e2e/harness"
)

const e2eAdminToken = "e2e-admin-token-0123456789"

// withAdmin adds an admin token to a gateway configuration.
func withAdmin(cfg harness.GatewayConfig) harness.GatewayConfig {
	if cfg.Extra == nil {
		cfg.Extra = map[string]any{}
	}
	cfg.Extra["admin"] = map[string]any{"tokens": []map[string]any{{"name": "e2e", "token": e2eAdminToken, "role": "admin"}}}
	return cfg
}

// cli runs the switchyard CLI against the gateway's admin API.
func cli(ctx context.Context, g *gateway, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, env.Bin, args...)
	cmd.Env = append(os.Environ(), "SWITCHYARD_ADMIN=http://"+g.cps[0].AdminAddr, "SWITCHYARD_TOKEN="+e2eAdminToken)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// clusterStates reads every cluster's state through the CLI's JSON.
func clusterStates(t *testing.T, g *gateway) map[string]string {
	t.Helper()
	out, err := cli(context.Background(), g, "cluster", "list", "--json")
	if err != nil {
		t.Fatalf("cluster list: %v\n%s", err, out)
	}
	var cs []struct {
		Name  string `json:"name"`
		State string `json:"state"`
	}
	if err := json.Unmarshal([]byte(out), &cs); err != nil {
		t.Fatalf("cluster list --json: %v\n%s", err, out)
	}
	m := map[string]string{}
	for _, c := range cs {
		m[c.Name] = c.State
	}
	return m
}

// syncBuffer is a bytes buffer safe for a writing process and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// ranQuery is one query of a load loop.
type ranQuery struct {
	ID          string
	Owner       string // cluster from the nextUri prefix
	Coordinator string // coordinator from the nextUri prefix
	Start, End  time.Time
	Answered    time.Time // the submission's answer arrived
	Err         error
	SubmitErr   bool // the submission itself failed (not a later poll)
}

// loadLoop runs queries through the gateway from several clients until
// stop is closed.
type loadLoop struct {
	mu      sync.Mutex
	queries []ranQuery
	wg      sync.WaitGroup
	stop    chan struct{}
}

func startLoad(t *testing.T, server string, clients int, sql string) *loadLoop {
	l := &loadLoop{stop: make(chan struct{})}
	for i := range clients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for n := 0; n < 100000; n++ {
				select {
				case <-l.stop:
					return
				default:
				}
				q := track(server, fmt.Sprintf("%s /* client %d query %d */", sql, i, n))
				l.mu.Lock()
				l.queries = append(l.queries, q)
				l.mu.Unlock()
			}
		}()
	}
	return l
}

// runTracked runs one query like a client and reports its owner.
func runTracked(server, sql string) (id, owner string, err error) {
	q := track(server, sql)
	return q.ID, q.Owner, q.Err
}

// track runs one query like a client (following nextUri to the end) and
// records where it ran and how it ended.
func track(server, sql string) ranQuery {
	q := ranQuery{Start: time.Now()}
	defer func() { q.End = time.Now() }()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	qr, err := harness.Submit(ctx, server, "e2e", sql, nil)
	if err == nil && qr.Error != nil {
		err = fmt.Errorf("%s: %s", qr.Error.ErrorName, qr.Error.Message)
	}
	if err != nil {
		q.Err, q.SubmitErr, q.End = err, true, time.Now()
		return q
	}
	q.ID, q.Answered = qr.ID, time.Now()
	if parts := strings.Split(qr.NextURI, "/"); len(parts) > 5 && parts[3] == "_sy" {
		q.Owner, q.Coordinator = parts[4], parts[5]
	}
	for qr.NextURI != "" && qr.Error == nil {
		if qr, err = harness.Fetch(ctx, http.MethodGet, qr.NextURI); err != nil {
			q.Err, q.End = err, time.Now()
			return q
		}
	}
	if qr.Error != nil {
		q.Err = fmt.Errorf("%s: %s", qr.Error.ErrorName, qr.Error.Message)
	}
	q.End = time.Now()
	return q
}

func (l *loadLoop) finish() []ranQuery {
	close(l.stop)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]ranQuery(nil), l.queries...)
}

// waitQueries waits until the loop has run at least n more queries.
func (l *loadLoop) waitQueries(t *testing.T, n int) {
	t.Helper()
	l.mu.Lock()
	target := len(l.queries) + n
	l.mu.Unlock()
	err := harness.Poll(context.Background(), fmt.Sprintf("%d more queries", n), 2*time.Minute, 50*time.Millisecond, func() error {
		l.mu.Lock()
		defer l.mu.Unlock()
		if len(l.queries) < target {
			return fmt.Errorf("%d of %d", len(l.queries), target)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

const loadSQL = "SELECT count(*), sum(totalprice) FROM tpch.tiny.orders"

// TestBlueGreenUnderLoad moves group adhoc from cluster a to cluster b while
// clients run queries: every query succeeds, those started before the switch
// run on a, those started after it run on b, and a ends drained.
func TestBlueGreenUnderLoad(t *testing.T) {
	cfg := withAdmin(twoClusters(deadURL(t)))
	cfg.Clusters[1].State = "inactive" // b takes no queries until the switch
	g := startGateway(t, 1, cfg)
	load := startLoad(t, g.URL(0), 4, loadSQL)
	load.waitQueries(t, 8)
	switchStart := time.Now()
	out, err := cli(context.Background(), g, "bluegreen", "--group", "adhoc", "--to", "b")
	switchEnd := time.Now()
	t.Logf("bluegreen output:\n%s", out)
	if err != nil {
		load.finish()
		t.Fatalf("bluegreen: %v", err)
	}
	load.waitQueries(t, 8)
	qs := load.finish()
	var before, after, failed int
	for _, q := range qs {
		switch {
		case q.Err != nil:
			failed++
			t.Errorf("query %s (owner %s) failed: %v", q.ID, q.Owner, q.Err)
		case q.Start.Before(switchStart):
			before++
			if q.Owner != "a" {
				t.Errorf("query %s started before the switch but ran on %s", q.ID, q.Owner)
			}
		case q.Start.After(switchEnd):
			after++
			if q.Owner != "b" {
				t.Errorf("query %s started after the switch but ran on %s", q.ID, q.Owner)
			}
		}
	}
	t.Logf("%d queries: %d before the switch, %d after, %d failed; switch took %v", len(qs), before, after, failed, switchEnd.Sub(switchStart).Round(time.Millisecond))
	if before == 0 || after == 0 {
		t.Fatalf("not enough queries around the switch: %d before, %d after", before, after)
	}
	if st := clusterStates(t, g); st["a"] != "drained" || st["b"] != "active" {
		t.Fatalf("states after the switch: %v", st)
	}
}

// TestDrainWaitsForRunningQuery drains a cluster while a query holds it
// (the client has not fetched its results yet): the drain reports the
// query and waits, new queries go to the other cluster, and once the client
// has read everything the cluster is drained.
func TestDrainWaitsForRunningQuery(t *testing.T) {
	g := startGateway(t, 1, withAdmin(twoClusters(deadURL(t))))
	ctx := context.Background()
	// Submit until a query lands on a; read only its first page, so it stays
	// RUNNING (its output buffer is full) until we read the rest.
	const held = "SELECT * FROM tpch.sf1.lineitem LIMIT 300000"
	var qr *harness.QueryResults
	for i := 0; i < 10; i++ {
		var err error
		qr, err = harness.Submit(ctx, g.URL(0), "e2e", held, nil)
		if err != nil {
			t.Fatal(err)
		}
		if ownerOf(t, qr.NextURI) == "a" {
			break
		}
		if _, err := harness.Fetch(ctx, http.MethodDelete, qr.NextURI); err != nil {
			t.Fatal(err)
		}
		qr = nil
	}
	if qr == nil {
		t.Fatal("no query landed on a in 10 submissions")
	}
	qr, err := advanceUntilRunning(ctx, qr)
	if err != nil {
		t.Fatal(err)
	}
	drain := exec.Command(env.Bin, "cluster", "drain", "a", "--wait", "--timeout", "5m")
	drain.Env = append(os.Environ(), "SWITCHYARD_ADMIN=http://"+g.cps[0].AdminAddr, "SWITCHYARD_TOKEN="+e2eAdminToken)
	var drainOut syncBuffer
	drain.Stdout, drain.Stderr = &drainOut, &drainOut
	if err := drain.Start(); err != nil {
		t.Fatal(err)
	}
	drained := make(chan error, 1)
	go func() { drained <- drain.Wait() }()
	t.Cleanup(func() { _ = drain.Process.Kill() })

	// The drain sees the query and waits for it.
	err = harness.Poll(ctx, "the drain to count the held query", 30*time.Second, 100*time.Millisecond, func() error {
		if !strings.Contains(drainOut.String(), "1 running") {
			return fmt.Errorf("drain output so far: %q", drainOut.String())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// New queries go to b only.
	for i := range 4 {
		id, owner, err := runTracked(g.URL(0), fmt.Sprintf("SELECT %d", i))
		if err != nil || owner != "b" {
			t.Fatalf("query %s during the drain: owner %q, %v", id, owner, err)
		}
	}
	select {
	case err := <-drained:
		t.Fatalf("drain ended while a query was running: %v\n%s", err, drainOut.String())
	default:
	}
	if st := clusterStates(t, g); st["a"] != "draining" {
		t.Fatalf("a is %s while its query runs", st["a"])
	}
	// The load the control plane reads from Trino's /metrics shows it too.
	err = harness.Poll(ctx, "a's load to show the held query", 30*time.Second, 200*time.Millisecond, func() error {
		out, err := cli(ctx, g, "cluster", "list", "--json")
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		var cs []struct {
			Name string `json:"name"`
			Load struct {
				Known         bool `json:"known"`
				Running       int  `json:"running"`
				ActiveWorkers int  `json:"activeWorkers"`
			} `json:"load"`
		}
		if err := json.Unmarshal([]byte(out), &cs); err != nil {
			return err
		}
		for _, c := range cs {
			if c.Name == "a" && c.Load.Known && c.Load.Running >= 1 && c.Load.ActiveWorkers >= 1 {
				return nil
			}
		}
		return fmt.Errorf("load not shown: %s", out)
	})
	if err != nil {
		t.Fatal(err)
	}
	// Read the rest: the query finishes and the drain completes.
	rows := len(qr.Data)
	for qr.NextURI != "" {
		if qr, err = harness.Fetch(ctx, http.MethodGet, qr.NextURI); err != nil {
			t.Fatal(err)
		}
		if qr.Error != nil {
			t.Fatalf("held query failed: %s", qr.Error.Message)
		}
		rows += len(qr.Data)
	}
	if rows != 300000 {
		t.Fatalf("held query returned %d rows", rows)
	}
	select {
	case err := <-drained:
		if err != nil {
			t.Fatalf("drain --wait: %v\n%s", err, drainOut.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("drain did not complete after the query finished:\n%s", drainOut.String())
	}
	t.Logf("drain output:\n%s", drainOut.String())
	if st := clusterStates(t, g); st["a"] != "drained" {
		t.Fatalf("a is %s", st["a"])
	}
}

// TestStatesAreShared changes a cluster's state through one replica: the
// other replica routes accordingly within a second, and a restarted
// replica keeps the state (it lives in Redis, not in the process).
func TestStatesAreShared(t *testing.T) {
	g := startGateway(t, 2, withAdmin(twoClusters(deadURL(t))))
	ctx := context.Background()
	if out, err := cli(ctx, g, "cluster", "deactivate", "b"); err != nil {
		t.Fatalf("deactivate: %v\n%s", err, out)
	}
	changed := time.Now()
	// Replica 2 (behind Envoy 2) stops sending new queries to b within a
	// second: six consecutive submissions there all land on a.
	err := harness.Poll(ctx, "replica 2 to stop routing to b", time.Second, 20*time.Millisecond, func() error {
		for i := range 6 {
			qr, err := harness.Submit(ctx, g.URL(1), "e2e", "SELECT 1", nil)
			if err != nil {
				return err
			}
			if o := ownerOf(t, qr.NextURI); o != "a" {
				return fmt.Errorf("submission %d went to %s", i, o)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("replica 2 routed by the new state %v after the change", time.Since(changed).Round(time.Millisecond))

	// Restart replica 1: b is still inactive.
	cp := g.cps[0]
	cp.Stop()
	restarted, err := env.RestartSwitchyard(ctx, cp)
	if err != nil {
		t.Fatal(err)
	}
	g.procs = append(g.procs, restarted.Proc)
	g.cps[0] = restarted
	if st := clusterStates(t, g); st["b"] != "inactive" {
		t.Fatalf("after a restart b is %q", st["b"])
	}
}

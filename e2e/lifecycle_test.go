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
	"github.com/switchyard-gw/switchyard/pkg/config"
)

const e2eAdminToken = "e2e-admin-token-0123456789"

// withAdmin adds an admin token to a gateway configuration.
func withAdmin(cfg harness.GatewayConfig) harness.GatewayConfig {
	if cfg.Extra == nil {
		cfg.Extra = map[string]any{}
	}
	cfg.Extra["admin"] = map[string]any{"tokens": []map[string]any{{"name": "e2e", "tokenHash": config.HashToken(e2eAdminToken), "role": "admin"}}}
	return cfg
}

// cli runs the switchyard CLI against the gateway's admin API (the first
// replica's).
func cli(ctx context.Context, g *gateway, args ...string) (string, error) {
	return cliAt(ctx, g.cps[0], args...)
}

// cliAt runs the switchyard CLI against one replica's admin API.
func cliAt(ctx context.Context, cp *harness.Switchyard, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, env.Bin, args...)
	cmd.Env = append(os.Environ(), "SWITCHYARD_ADMIN=http://"+cp.AdminAddr, "SWITCHYARD_TOKEN="+e2eAdminToken)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// clusterStates reads every cluster's state through the CLI's JSON.
func clusterStates(t *testing.T, g *gateway) map[string]string {
	t.Helper()
	return clusterStatesAt(t, g.cps[0])
}

// clusterStatesAt reads every cluster's state as one replica has it.
func clusterStatesAt(t *testing.T, cp *harness.Switchyard) map[string]string {
	t.Helper()
	out, err := cliAt(context.Background(), cp, "cluster", "list", "--json")
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

// TestBlueGreenUnderLoad moves group adhoc from cluster a to cluster b under
// load (4 closed-loop clients plus an open loop of 3 queries/s, at most 16
// of them in flight): every query succeeds with no poll answered 502-504,
// those started before the switch run on a, those started after it run on
// b, and a ends drained.
func TestBlueGreenUnderLoad(t *testing.T) {
	clearTrinos(t, trinoA, trinoB)
	cfg := withAdmin(twoClusters(deadURL(t)))
	cfg.Clusters[1].State = "inactive" // b takes no queries until the switch
	g := startGateway(t, 1, cfg)
	load := startLoad(t, g.URL(0), loadSpec{Clients: 4, Rate: 3, SQL: loadSQL})
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
	load.requireConcurrent(t)
	qs := load.finish()
	requireNoRetries(t, qs)
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
// has read everything (no poll answered 502-504, all 300,000 rows) the
// cluster is drained.
func TestDrainWaitsForRunningQuery(t *testing.T) {
	clearTrinos(t, trinoA, trinoB)
	g := startGateway(t, 1, withAdmin(twoClusters(deadURL(t))))
	ctx := context.Background()
	// A query on a, held RUNNING (its output buffer is full) until we
	// read the rest.
	qr, retried := holdQuery(t, g.URL(0), "on a", func(cluster, _ string) bool { return cluster == "a" })
	// The drain sees the query and waits for it.
	drainOut, drained := drainCountingOne(t, g, "a")
	// New queries go to b only, and none of their polls needed a retry.
	for i := range 4 {
		q := track(g.URL(0), fmt.Sprintf("SELECT %d", i))
		if q.Err != nil || q.Owner != "b" {
			t.Fatalf("query %s during the drain: owner %q, %v", q.ID, q.Owner, q.Err)
		}
		if q.Retries != 0 {
			t.Errorf("query %s during the drain: %d poll retries of 502-504, want none", q.ID, q.Retries)
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
	err := harness.Poll(ctx, "a's load to show the held query", 30*time.Second, 200*time.Millisecond, func() error {
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
		var n int
		if qr, n, err = harness.FetchRetries(ctx, http.MethodGet, qr.NextURI); err != nil {
			t.Fatal(err)
		}
		retried += n
		if qr.Error != nil {
			t.Fatalf("held query failed: %s", qr.Error.Message)
		}
		rows += len(qr.Data)
	}
	if rows != 300000 {
		t.Fatalf("held query returned %d rows", rows)
	}
	if retried != 0 {
		t.Errorf("held query: %d poll retries of 502-504 answers during the drain, want none", retried)
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

// clearTrinos kills the queries earlier tests left unfinished on the
// shared Trinos (a client cut off by an Envoy restart leaves its query
// FINISHING until Trino abandons it, 5 minutes later) and waits until none
// is left: a drain counts every unfinished query of its cluster.
func clearTrinos(t *testing.T, trinos ...*harness.Trino) {
	t.Helper()
	ctx := context.Background()
	for _, tr := range trinos {
		err := harness.Poll(ctx, "no unfinished query on "+tr.Name, time.Minute, 200*time.Millisecond, func() error {
			qs, err := tr.Queries(ctx)
			if err != nil {
				return err
			}
			var left []string
			for _, q := range qs {
				switch q.State {
				case "FINISHED", "FAILED":
					continue
				}
				left = append(left, q.QueryID+" "+q.State)
				req, _ := http.NewRequestWithContext(ctx, http.MethodPut, tr.URL+"/v1/query/"+q.QueryID+"/killed", strings.NewReader("cleared by the e2e tests before a drain"))
				req.Header.Set("X-Trino-User", "harness")
				if resp, err := http.DefaultClient.Do(req); err == nil {
					resp.Body.Close()
				}
			}
			if len(left) > 0 {
				t.Logf("%s: killed queries left by earlier tests: %v", tr.Name, left)
				return fmt.Errorf("unfinished: %v", left)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// drainCountingOne runs `switchyard cluster drain NAME --wait --timeout
// 5m` (and args) in the background and waits until it counts one running
// query; the channel gets the command's end.
func drainCountingOne(t *testing.T, g *gateway, cluster string, args ...string) (*syncBuffer, <-chan error) {
	t.Helper()
	drain := exec.Command(env.Bin, append([]string{"cluster", "drain", cluster, "--wait", "--timeout", "5m"}, args...)...)
	drain.Env = append(os.Environ(), "SWITCHYARD_ADMIN=http://"+g.cps[0].AdminAddr, "SWITCHYARD_TOKEN="+e2eAdminToken)
	out := &syncBuffer{}
	drain.Stdout, drain.Stderr = out, out
	if err := drain.Start(); err != nil {
		t.Fatal(err)
	}
	drained := make(chan error, 1)
	go func() { drained <- drain.Wait() }()
	t.Cleanup(func() { _ = drain.Process.Kill() })
	err := harness.Poll(context.Background(), "the drain of "+cluster+" to count the running query", 30*time.Second, 100*time.Millisecond, func() error {
		if !strings.Contains(out.String(), "1 running") {
			return fmt.Errorf("drain output so far: %q", out.String())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out, drained
}

// TestStatesAreShared changes a cluster's state through one replica: the
// other replica installs the new fleet (its own admin API shows the state)
// and routes by it, and a restarted replica keeps the state (it lives in
// Redis, not in the process). Replicas read the store's fleet revision
// every 250 ms; the time replica 2 took is logged, not asserted (the
// deadlines are hang detectors on a machine shared with Trino JVMs).
func TestStatesAreShared(t *testing.T) {
	g := startGateway(t, 2, withAdmin(twoClusters(deadURL(t))))
	ctx := context.Background()
	if st := clusterStatesAt(t, g.cps[1]); st["b"] != "active" {
		t.Fatalf("replica 2 shows b %q before the change, want active", st["b"])
	}
	if out, err := cli(ctx, g, "cluster", "deactivate", "b"); err != nil {
		t.Fatalf("deactivate: %v\n%s", err, out)
	}
	changed := time.Now()
	// Replica 2 installs the new fleet revision from the store.
	err := harness.Poll(ctx, "replica 2 to install the fleet with b inactive", 30*time.Second, 20*time.Millisecond, func() error {
		if st := clusterStatesAt(t, g.cps[1]); st["b"] != "inactive" {
			return fmt.Errorf("replica 2 shows b %q", st["b"])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	installed := time.Since(changed)
	// And routes by it: six consecutive submissions through Envoy 2 (whose
	// ext_proc is replica 2) all land on a.
	err = harness.Poll(ctx, "replica 2 to stop routing to b", 30*time.Second, 20*time.Millisecond, func() error {
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
	t.Logf("replica 2 installed the new state %v after the change and routed by it %v after the change", installed.Round(time.Millisecond), time.Since(changed).Round(time.Millisecond))

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

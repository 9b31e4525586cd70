package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchyard-gw/switchyard/e2e/harness"
)

// pyBatch is the load as fixed batches: Python trino clients with max_attempts=1
// (no retry hides a failure), each running its queries one after another.
type pyBatch struct {
	wg      sync.WaitGroup
	mu      sync.Mutex
	results []pyResult
	errs    []error
}

// startPyBatch starts clients Python clients, perClient queries each.
func startPyBatch(server, prefix string, clients, perClient int) *pyBatch {
	l := &pyBatch{}
	for i := range clients {
		qs := tagged(fmt.Sprintf("%s_c%d", prefix, i), perClient)
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			res, err := pythonQueries(server, qs)
			l.mu.Lock()
			defer l.mu.Unlock()
			l.results = append(l.results, res...)
			if err != nil {
				l.errs = append(l.errs, err)
			}
		}()
	}
	return l
}

// wait waits for every client and fails the test on a failed query.
func (l *pyBatch) wait(t *testing.T) []pyResult {
	t.Helper()
	l.wg.Wait()
	for _, err := range l.errs {
		t.Error(err)
	}
	failed := 0
	for _, r := range l.results {
		if r.Error != "" {
			failed++
			t.Errorf("query %s (%s) failed: %s", r.QueryID, r.Tag, r.Error)
		}
	}
	t.Logf("%d queries through the Python client (max_attempts=1), %d failed", len(l.results), failed)
	return l.results
}

// pythonQueries is runPython for a goroutine: it returns its failure.
func pythonQueries(server string, qs []taggedQuery) ([]pyResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	spec, _ := json.Marshal(map[string]any{"server": server, "user": "e2e", "max_attempts": 1, "queries": qs})
	cmd := exec.CommandContext(ctx, env.PythonPath(), env.Root+"/e2e/clients/pyclient.py")
	cmd.Stdin = strings.NewReader(string(spec))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("python client: %v\nstderr: %s", err, stderr.String())
	}
	var res []pyResult
	if err := json.Unmarshal(out, &res); err != nil {
		return nil, fmt.Errorf("python client output: %v: %s", err, out)
	}
	return res, nil
}

// logCount counts the lines of a process log after byte offset from that
// contain s.
func logCount(t *testing.T, p *harness.Proc, from int, s string) int {
	t.Helper()
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	if from > len(b) {
		from = len(b)
	}
	return strings.Count(string(b[from:]), s)
}

func logSize(t *testing.T, p *harness.Proc) int {
	t.Helper()
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	return len(b)
}

// waitSubmitted waits until the control plane has recorded n more
// submissions than at byte offset from of its log.
func waitSubmitted(t *testing.T, cp *harness.Switchyard, from, n int) {
	t.Helper()
	err := harness.Poll(context.Background(), fmt.Sprintf("%d submissions", n), 2*time.Minute, 50*time.Millisecond, func() error {
		if got := logCount(t, cp.Proc, from, "query submitted"); got < n {
			return fmt.Errorf("%d submitted", got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// patientHealth gives coordinators 5 s to answer a health check (3 misses
// in a row mark one down): these tests are about Redis, and on a machine
// whose two cores run both Trino JVMs and the load, a 1 s check times out
// now and then without any coordinator being down.
func patientHealth(cfg harness.GatewayConfig) harness.GatewayConfig {
	if cfg.Extra == nil {
		cfg.Extra = map[string]any{}
	}
	cfg.Extra["health"] = map[string]any{"interval": "1s", "timeout": "5s", "fallThreshold": 3, "riseThreshold": 2}
	return cfg
}

// storedFleet reads the fleet document from Redis as the store keeps it
// (key prefix sy:, the default): its revision and each cluster's state.
func storedFleet(ctx context.Context, c redis.UniversalClient) (int64, map[string]string, error) {
	vals, err := c.MGet(ctx, "sy:doc:{fleet}", "sy:doc:{fleet}:rev").Result()
	if err != nil {
		return 0, nil, err
	}
	doc, _ := vals[0].(string)
	revs, _ := vals[1].(string)
	if doc == "" || revs == "" {
		return 0, nil, errors.New("no fleet document in Redis")
	}
	rev, err := strconv.ParseInt(revs, 10, 64)
	if err != nil {
		return 0, nil, err
	}
	var d struct {
		Status map[string]struct {
			State string `json:"state"`
		} `json:"status"`
	}
	if err := json.Unmarshal([]byte(doc), &d); err != nil {
		return 0, nil, err
	}
	states := map[string]string{}
	for name, s := range d.Status {
		states[name] = s.State
	}
	return rev, states, nil
}

// TestRedisRestartWithoutPersistenceUnderLoad is the third and
// fourth symptoms: Redis (no persistence) is killed and restarted empty on
// its port while six Python clients (max_attempts=1) run queries. No
// query fails; the fleet document, with a state changed at run time before
// the restart, is back in Redis at the revision it had; and the control
// plane logs the lost store a handful of times, not four times a second.
func TestRedisRestartWithoutPersistenceUnderLoad(t *testing.T) {
	g := startGateway(t, 1, patientHealth(withAdmin(twoClusters(deadURL(t)))))
	ctx := context.Background()
	if out, err := cli(ctx, g, "cluster", "deactivate", "dead"); err != nil {
		t.Fatalf("deactivate: %v\n%s", err, out)
	}
	raw := redis.NewClient(&redis.Options{Addr: g.redis.Addr, MaxRetries: -1})
	defer raw.Close()
	rev, states, err := storedFleet(ctx, raw)
	if err != nil || states["dead"] != "inactive" {
		t.Fatalf("before the restart: fleet revision %d, states %v (%v); want dead inactive", rev, states, err)
	}

	from := logSize(t, g.cps[0].Proc)
	load := startPyBatch(g.URL(0), "restart", 6, 12)
	waitSubmitted(t, g.cps[0], from, 6)

	// Redis dies and comes back empty on its port.
	mark := logSize(t, g.cps[0].Proc)
	_, portText, _ := net.SplitHostPort(g.redis.Addr)
	port, _ := strconv.Atoi(portText)
	g.redis.Kill()
	if g.redis, err = env.StartRedisOn(ctx, g.redis.Name, port); err != nil {
		t.Fatal(err)
	}
	g.procs = append(g.procs, g.redis.Proc)
	restarted := time.Now()
	err = harness.Poll(ctx, "the fleet to be written back to Redis", 10*time.Second, 20*time.Millisecond, func() error {
		got, st, err := storedFleet(ctx, raw)
		if err != nil {
			return err
		}
		if got != rev || st["dead"] != "inactive" {
			return fmt.Errorf("revision %d, states %v; want revision %d with dead inactive", got, st, rev)
		}
		return nil
	})
	if err != nil {
		t.Error(err) // and see what the load went through
	} else {
		t.Logf("fleet back in Redis %v after the restart", time.Since(restarted).Round(time.Millisecond))
	}

	res := load.wait(t)
	if len(res) != 72 {
		t.Errorf("%d results, want 72", len(res))
	}
	if n := logCount(t, g.cps[0].Proc, mark, "cannot read the fleet"); n > 3 {
		t.Errorf(`"cannot read the fleet" logged %d times after the restart, want at most 3`, n)
	}
	if n := logCount(t, g.cps[0].Proc, mark, "fleet written back"); n != 1 {
		t.Errorf(`"fleet written back" logged %d times, want once`, n)
	}
	if st := clusterStates(t, g); st["dead"] != "inactive" {
		t.Errorf("after the restart the control plane shows dead %q, want inactive", st["dead"])
	}
}

// envoyStat sums Envoy counters whose name contains filter.
func envoyStat(t *testing.T, en *harness.Envoy, filter string) int {
	t.Helper()
	body, err := en.Admin("/stats?filter=" + filter)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, line := range strings.Split(body, "\n") {
		if _, v, ok := strings.Cut(line, ": "); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			total += n
		}
	}
	return total
}

// fileName is the test's name as a file name (subtests have slashes).
func fileName(t *testing.T) string { return strings.NewReplacer("/", "-", " ", "_").Replace(t.Name()) }

// startGatewayOnStore is startGatewayFor on a store the test started
// (a Sentinel setup, a Redis Cluster, a Redis with other settings): redis
// is the configuration's store.redis section. It starts no Redis.
func startGatewayOnStore(t *testing.T, replicas int, cfg harness.GatewayConfig, redisSection map[string]any) *gateway {
	t.Helper()
	ctx := context.Background()
	g := &gateway{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log("\n" + harness.Dump(g.procs, 80))
		}
		for i := len(g.procs) - 1; i >= 0; i-- {
			g.procs[i].Stop()
		}
	})
	if cfg.Extra == nil {
		cfg.Extra = map[string]any{}
	}
	cfg.Extra["store"] = map[string]any{"type": "redis", "redis": redisSection}
	name := fileName(t)
	for i := range replicas {
		c := cfg
		c.ListenerAddr = ""
		cp, err := env.StartSwitchyard(ctx, fmt.Sprintf("%s-cp%d", name, i+1), c)
		if err != nil {
			t.Fatal(err)
		}
		g.procs = append(g.procs, cp.Proc)
		g.cps = append(g.cps, cp)
		en, err := env.StartEnvoy(ctx, fmt.Sprintf("%s-envoy%d", name, i+1), cp.XDSAddr, cp.ListenerAddr)
		if err != nil {
			t.Fatal(err)
		}
		g.procs = append(g.procs, en.Proc)
		g.envoys = append(g.envoys, en)
		if err := en.WaitHealthy(ctx, "trino_a", "trino_b"); err != nil {
			t.Fatal(err)
		}
	}
	return g
}

// metric reads a counter or gauge from a control plane's /metrics.
func metric(t *testing.T, cp *harness.Switchyard, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + cp.AdminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// TestRedisStallUnderLoad is the fourth symptom and its cause: a
// submission's answer waits in Envoy while ext_proc records the query's
// owner, and a store call longer than ext_proc's message timeout (1 s)
// made Envoy time the message out and reset the client's connection
// (Python: "Remote end closed connection without response" or "Response
// ended prematurely"), once per client caught in it. Here Redis stops
// answering (SIGSTOP: connections stay open, nothing is read) for the
// time six Python clients (max_attempts=1) submit two queries each, with
// a store timeout of 3 s, longer than the message timeout. No query
// fails, Envoy times out no ext_proc message, and the owners that could
// not be written during the stall are written once Redis answers.
func TestRedisStallUnderLoad(t *testing.T) {
	ctx := context.Background()
	r, err := env.StartRedis(ctx, t.Name()+"-redis")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	g := startGatewayOnStore(t, 1, patientHealth(twoClusters(deadURL(t))), map[string]any{"address": r.Addr, "timeout": "3s"})
	from := logSize(t, g.cps[0].Proc)
	load := startPyBatch(g.URL(0), "stall", 6, 12)
	waitSubmitted(t, g.cps[0], from, 6)

	if err := syscall.Kill(r.Pid(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stalled := logSize(t, g.cps[0].Proc)
	waitSubmitted(t, g.cps[0], stalled, 12)
	if err := syscall.Kill(r.Pid(), syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}

	res := load.wait(t)
	if n := envoyStat(t, g.envoys[0], "ext_proc.message_timeouts"); n != 0 {
		t.Errorf("Envoy timed out %d ext_proc messages, want none", n)
	}
	if n := envoyStat(t, g.envoys[0], "http.switchyard.downstream_rq_tx_reset"); n != 0 {
		t.Errorf("Envoy reset %d client requests, want none", n)
	}
	if n := metric(t, g.cps[0], "switchyard_query_records_deferred_total"); n < 6 {
		t.Errorf("%v owner records deferred during the stall, want at least 6 (the test did not stall the submissions)", n)
	}
	raw := redis.NewClient(&redis.Options{Addr: r.Addr, MaxRetries: -1})
	defer raw.Close()
	err = harness.Poll(ctx, "every query's owner to be in Redis", 30*time.Second, 100*time.Millisecond, func() error {
		for _, q := range res {
			if q.QueryID == "" {
				continue
			}
			if err := raw.Get(ctx, "sy:q:"+q.QueryID).Err(); err != nil {
				return fmt.Errorf("query %s: %w", q.QueryID, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	t.Logf("%v owner records deferred, %v written later", metric(t, g.cps[0], "switchyard_query_records_deferred_total"),
		metric(t, g.cps[0], "switchyard_query_records_retried_total"))
}

// TestSentinelFailoverUnderLoad runs the store on Sentinel (a primary, a
// replica, three sentinels) behind two control-plane replicas and fails
// the primary over while six Python clients (max_attempts=1) run queries
// through replica 1: planned (SENTINEL FAILOVER) and unplanned (kill -9 of
// the primary). No query fails, and a state change made through replica 1
// after the failover is seen by replica 2 (both follow the new primary).
func TestSentinelFailoverUnderLoad(t *testing.T) {
	for _, tt := range []struct {
		name     string
		failover func(context.Context, *harness.Sentinel) error
	}{
		{"planned", func(ctx context.Context, s *harness.Sentinel) error { return s.Failover(ctx) }},
		{"kill -9 of the primary", func(ctx context.Context, s *harness.Sentinel) error {
			old, err := s.KillPrimary(ctx)
			if err != nil {
				return err
			}
			return s.WaitFailover(ctx, old)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			s, err := env.StartSentinel(ctx, fileName(t))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Stop()
			g := startGatewayOnStore(t, 2, patientHealth(withAdmin(twoClusters(deadURL(t)))),
				map[string]any{"mode": "sentinel", "addresses": s.SentinelAddrs, "masterName": s.MasterName})
			before, err := s.Primary(ctx)
			if err != nil {
				t.Fatal(err)
			}
			from := logSize(t, g.cps[0].Proc)
			load := startPyBatch(g.URL(0), "sentinel", 6, 12)
			waitSubmitted(t, g.cps[0], from, 6)
			start := time.Now()
			if err := tt.failover(ctx, s); err != nil {
				t.Fatal(err)
			}
			after, _ := s.Primary(ctx)
			t.Logf("primary %s -> %s in %v", before, after, time.Since(start).Round(time.Millisecond))

			// A change after the failover reaches the other replica.
			err = harness.Poll(ctx, "deactivating dead through replica 1", 30*time.Second, 200*time.Millisecond, func() error {
				out, err := cliAt(ctx, g.cps[0], "cluster", "deactivate", "dead")
				if err != nil {
					return fmt.Errorf("%v: %s", err, out)
				}
				return nil
			})
			if err != nil {
				t.Error(err)
			}
			err = harness.Poll(ctx, "replica 2 to see dead inactive", 30*time.Second, 100*time.Millisecond, func() error {
				if st := clusterStatesAt(t, g.cps[1]); st["dead"] != "inactive" {
					return fmt.Errorf("replica 2 shows dead %q", st["dead"])
				}
				return nil
			})
			if err != nil {
				t.Error(err)
			}
			res := load.wait(t)
			for _, r := range res {
				if r.QueryID == "" {
					t.Errorf("query %s has no query ID (never routed)", r.Tag)
				}
			}
			if n := envoyStat(t, g.envoys[0], "ext_proc.message_timeouts"); n != 0 {
				t.Errorf("Envoy timed out %d ext_proc messages, want none", n)
			}
		})
	}
}

// TestRedisClusterRoutesAndRecords runs the control plane on a three-node
// Redis Cluster: queries are routed and their owners recorded (found by
// an unprefixed request), the fleet lives in the cluster and a state
// change is stored there.
func TestRedisClusterRoutesAndRecords(t *testing.T) {
	ctx := context.Background()
	rc, err := env.StartRedisCluster(ctx, "rc", 3)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Stop()
	g := startGatewayOnStore(t, 1, withAdmin(twoClusters(deadURL(t))), map[string]any{"mode": "cluster", "addresses": rc.Addrs})
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: rc.Addrs})
	defer cc.Close()
	for i := range 4 {
		qr, err := harness.Submit(ctx, g.URL(0), "e2e", fmt.Sprintf("SELECT %d", i), nil)
		if err != nil || qr.Error != nil {
			t.Fatalf("submission %d: %v %+v", i, err, qr)
		}
		var rows [][]any
		for next := qr; next.NextURI != ""; {
			if next, _, err = harness.FetchRetries(ctx, http.MethodGet, next.NextURI); err != nil || next.Error != nil {
				t.Fatalf("query %d through the gateway: %v %+v", i, err, next)
			}
			rows = append(rows, next.Data...)
		}
		if fmt.Sprint(rows) != fmt.Sprintf("[[%d]]", i) {
			t.Fatalf("query %d returned %v", i, rows)
		}
		owner, err := cc.Get(ctx, "sy:q:"+qr.ID).Result()
		if err != nil || !strings.HasPrefix(owner, ownerOf(t, qr.NextURI)+"/") {
			t.Fatalf("owner of %s in the cluster: %q %v, want %s/...", qr.ID, owner, err, ownerOf(t, qr.NextURI))
		}
		// An unprefixed request about it is sent to its owner.
		info, _, err := harness.FetchRetries(ctx, http.MethodGet, g.URL(0)+"/v1/query/"+qr.ID)
		if err != nil || info.Error != nil {
			t.Fatalf("/v1/query/%s through the gateway: %v %+v", qr.ID, err, info)
		}
	}
	if out, err := cli(ctx, g, "cluster", "deactivate", "dead"); err != nil {
		t.Fatalf("deactivate: %v\n%s", err, out)
	}
	rev, states, err := storedFleet(ctx, cc)
	if err != nil || states["dead"] != "inactive" || rev < 2 {
		t.Fatalf("fleet in the cluster: revision %d, states %v (%v); want dead inactive at revision 2 or later", rev, states, err)
	}
}

// TestTransactionSurvivesLostRecords: a transaction whose owner record
// keeps disappearing from Redis (as the last writes before a failover do)
// still runs every statement on the coordinator that started it: the
// gateway asks the coordinators which one lists the transaction.
func TestTransactionSurvivesLostRecords(t *testing.T) {
	g := startGateway(t, 1, twoClusters(deadURL(t)))
	rc := redis.NewClient(&redis.Options{Addr: g.redis.Addr})
	defer rc.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var dropped int
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			keys, _ := rc.Keys(ctx, "sy:t:*").Result()
			if len(keys) > 0 && rc.Del(ctx, keys...).Err() == nil {
				dropped += len(keys)
			}
			select {
			case <-ctx.Done():
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	runTransactionOnOneCluster(t, g)
	cancel()
	<-done
	if dropped == 0 {
		t.Fatal("no transaction record was ever dropped: the test did not test the lookup by asking")
	}
	if n := logCount(t, g.cps[0].Proc, 0, "transaction owner found by asking the coordinators"); n == 0 {
		t.Fatalf("the gateway never asked the coordinators (%d records dropped)", dropped)
	}
}

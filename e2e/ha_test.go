package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/e2e/harness"
)

// haLoadClients is the load of the HA tests: six Python clients with
// max_attempts=1, as in issue 10.
const haLoadClients = 6

// TestHAReplicaKillUnderLoad kills (SIGKILL) one of two control-plane
// replicas under the load of six Python clients that do not retry
// (max_attempts=1), for about 15 s, then starts it again:
//   - no submission and no running query fails, before, during or after;
//   - Envoy's per-host counters of the ext_proc cluster show the streams
//     going to both replicas, then only to the live one, then (once the
//     restarted replica is ready and Envoy's health checks pass) to both
//     again.
func TestHAReplicaKillUnderLoad(t *testing.T) {
	ha, _ := startHA(t, 2, 1)
	en := ha.Envoys[0]
	load := startPyLoad(t, ha.URL(), haLoadClients)
	load.waitQueries(t, 2*haLoadClients)
	before := streamsTo(t, en, ha)
	for i, n := range before {
		if n == 0 {
			t.Fatalf("before the kill replica %d had no ext_proc stream (per replica: %v); want the load spread", i+1, before)
		}
	}

	killed := ha.Replicas[0]
	killAt := float64(time.Now().UnixNano()) / 1e9 // the clients' clock (Unix seconds)
	killed.Kill()
	atKill := streamsTo(t, en, ha)
	startDown := load.count()
	downSince := time.Now()
	// ~15 s of load with one replica down (the length of the load, not a
	// synchronisation: the assertions are on the outcomes and counters).
	for time.Since(downSince) < 15*time.Second {
		load.waitQueries(t, 1)
	}
	down := load.since(startDown)
	downFor := time.Since(downSince)
	afterDown := streamsTo(t, en, ha)
	// A submission whose stream was open on the killed replica (its
	// response phase) fails open and finishes without a new stream: it
	// is counted by Envoy's failure_mode_allowed.
	st, err := en.Stats(`ext_proc\.failure_mode_allowed`)
	if err != nil {
		t.Fatal(err)
	}
	var failedOpen int64
	for _, v := range st {
		failedOpen += v
	}
	// A query that ended in the window but was submitted before the kill
	// had its stream before it; each one submitted after needs one on the
	// live replica (or failed open).
	submitted := 0
	for _, q := range down {
		if q.Start >= killAt {
			submitted++
		}
	}
	if live := afterDown[1] - atKill[1]; live+failedOpen < int64(submitted) {
		t.Errorf("while replica 1 was down, replica 2 got %d ext_proc streams for %d queries submitted then (%d failed open at the kill); want at least one per other query", live, submitted, failedOpen)
	}
	if dead := afterDown[0] - atKill[0]; dead > int64(len(down))/10 {
		t.Errorf("while replica 1 was down Envoy still sent it %d requests (%d queries); want it out at once", dead, len(down))
	}

	restarted, err := env.RestartSwitchyard(context.Background(), killed)
	if err != nil {
		t.Fatal(err)
	}
	ha.Replicas[0] = restarted
	waitHealthyReplicas(t, en, 2)
	atBack := streamsTo(t, en, ha)
	load.waitQueries(t, 3*haLoadClients)
	afterBack := streamsTo(t, en, ha)

	all := load.finish()
	subs, running := failures(all)
	for _, q := range append(subs, running...) {
		t.Errorf("failed: %v", q)
	}
	if len(subs)+len(running) > 0 {
		t.Errorf("%d of %d queries failed (%d submissions, %d running); want none", len(subs)+len(running), len(all), len(subs), len(running))
	}
	if afterBack[0] == atBack[0] {
		t.Errorf("after its restart replica 1 got no ext_proc stream (per replica: %v, then %v); want the load spread again", atBack, afterBack)
	}
	t.Logf("%d queries: %d while replica 1 was down (%v); ext_proc requests per replica before the kill %v, at the kill %v, after %v, back %v, at the end %v",
		len(all), len(down), downFor.Round(time.Second), before, atKill, afterDown, atBack, afterBack)
	logExtProcStats(t, en)
}

// logExtProcStats logs the ext_proc filter's and cluster's failure counters.
func logExtProcStats(t *testing.T, en interface {
	Stats(string) (map[string]int64, error)
}) {
	t.Helper()
	st, err := en.Stats(`(ext_proc\.(streams_started|streams_failed|failure_mode_allowed|message_timeouts))|(cluster\.switchyard_extproc\.(upstream_rq_retry|upstream_rq_retry_success|upstream_cx_connect_fail|outlier_detection\.ejections_enforced_total|health_check\.failure))$`)
	if err != nil {
		t.Error(err)
		return
	}
	t.Logf("envoy: %v", st)
}

// TestHARestartedReplicaRefusesNothing restarts a control-plane replica
// (alone, and beside a live one) and sends it submissions straight to its
// ext_proc port from the moment the port opens, before its first health
// round: none is refused (unknown health is not "down"), while both
// clusters are up. Through Envoy, six Python clients run across the kill
// and the restart: alone, Envoy has only the starting replica and uses it
// (the ext_proc cluster's panic mode), so only queries submitted while no
// replica ran fail (GATEWAY_UNAVAILABLE) and none submitted once its port
// opened; beside a live replica, no query fails at all.
func TestHARestartedReplicaRefusesNothing(t *testing.T) {
	for _, tt := range []struct {
		name     string
		replicas int
	}{{"alone", 1}, {"beside a live replica", 2}} {
		t.Run(tt.name, func(t *testing.T) {
			ha, _ := startHA(t, tt.replicas, 1)
			victim := ha.Replicas[tt.replicas-1]
			load := startPyLoad(t, ha.URL(), haLoadClients)
			load.waitQueries(t, haLoadClients)
			victim.Kill()
			if tt.replicas == 1 {
				load.waitQueries(t, haLoadClients) // failing while nothing runs
			}
			restarted, err := env.LaunchSwitchyard(victim)
			if err != nil {
				t.Fatal(err)
			}
			ha.Replicas[tt.replicas-1] = restarted
			ds, openAt, readyAt := fireAtReplica(t, restarted, 4, 20)
			before, refused := 0, 0
			for _, d := range ds {
				if d.At.Before(readyAt) {
					before++
				}
				if d.Refusal != "" {
					refused++
					if refused <= 5 {
						t.Errorf("refused %v before /readyz said ready: %s", readyAt.Sub(d.At), d.Refusal)
					}
				}
			}
			if refused > 0 {
				t.Errorf("the restarted replica refused %d of %d submissions (%d answered before /readyz said ready); want none", refused, len(ds), before)
			}
			if before == 0 {
				t.Errorf("no submission was answered before the replica was ready (%d after): the test did not reach its first moments", len(ds))
			}
			t.Logf("%d submissions straight to the restarted replica, %d answered in the %v between its port opening and /readyz saying ready, %d refused",
				len(ds), before, readyAt.Sub(openAt).Round(time.Millisecond), refused)
			waitHealthyReplicas(t, ha.Envoys[0], tt.replicas)
			load.waitQueries(t, 2*haLoadClients)
			all := load.finish()
			subs, running := failures(all)
			down := 0
			for _, q := range append(subs, running...) {
				// Alone, a query submitted before the port opened had no
				// replica to answer it.
				unavoidable := tt.replicas == 1 && q.Start < float64(openAt.UnixNano())/1e9 && q.QueryID == nil &&
					strings.Contains(*q.Error, "GATEWAY_UNAVAILABLE")
				if unavoidable {
					down++
					continue
				}
				t.Errorf("failed: %v (port open at %.3f)", q, float64(openAt.UnixNano())/1e9)
			}
			t.Logf("through Envoy: %d queries, %d failed submissions, %d failed running queries, of them %d submitted while no replica ran",
				len(all), len(subs), len(running), down)
		})
	}
}

// transportError reports whether a Python client's error is a broken
// connection (the only failure a killed Envoy may cause: a client with
// retries on, the default, retries it).
func transportError(msg string) bool {
	for _, s := range []string{"ConnectionError", "Connection aborted", "RemoteDisconnected", "Connection reset", "ProtocolError", "ChunkedEncodingError"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// TestHAEnvoyRestartAndHotRestart runs two Envoys on the same two
// replicas, sharing the client port (SO_REUSEPORT), under six Python
// clients with max_attempts=1:
//   - one Envoy is killed (SIGKILL): only the connections it held break
//     (a broken connection, no more failing queries begun before the kill
//     than it had connections), the clients of the other Envoy see
//     nothing. A client whose connection broke opens a new one at once,
//     and the kernel may hash it to the dying Envoy's listener until the
//     process is gone (SO_REUSEPORT): a query begun between the kill
//     signal and the process's end may break too, one begun after may
//     not;
//   - it is started again and serves again with its configuration from
//     xDS (its own request counter grows under fresh connections);
//   - the other is hot restarted (a new epoch takes the sockets over, the
//     parent drains and exits): no query fails.
func TestHAEnvoyRestartAndHotRestart(t *testing.T) {
	ha, _ := startHA(t, 2, 2)
	ctx := context.Background()
	load := startPyLoad(t, ha.URL(), haLoadClients)
	load.waitQueries(t, 2*haLoadClients)

	killed := ha.Envoys[0]
	st, err := killed.Stats(`^http\.switchyard\.downstream_cx_active$`)
	if err != nil {
		t.Fatal(err)
	}
	heldConns := st["http.switchyard.downstream_cx_active"]
	killAt := time.Now()
	killed.Kill()
	goneAt := time.Now() // Kill returns once the process is gone, its listener closed
	load.waitQueries(t, 2*haLoadClients)
	restarted, err := env.RestartEnvoy(ctx, killed)
	if err != nil {
		t.Fatal(err)
	}
	ha.Envoys[0] = restarted
	if err := restarted.WaitHealthy(ctx, "trino_a", "trino_b"); err != nil {
		t.Fatal(err)
	}
	waitHealthyReplicas(t, restarted, 2)
	servedBefore := downstreamRequests(t, restarted)
	// Fresh connections spread over both Envoys (the kernel hashes each
	// connection to one of the sockets on the port).
	for i := range 20 {
		if q := trackFresh(ha.URL(), "SELECT 1"); q.Err != nil {
			t.Errorf("query %d on a fresh connection after the restart: %v", i, q.Err)
		}
	}
	if served := downstreamRequests(t, restarted) - servedBefore; served == 0 {
		t.Error("the restarted Envoy served none of 20 queries on fresh connections; want it back in service")
	}
	restartedAt := time.Now()

	parent := ha.Envoys[1]
	child, err := env.HotRestartEnvoy(ctx, parent)
	if err != nil {
		t.Fatal(err)
	}
	ha.Envoys[1] = child
	hotAt := time.Now()
	load.waitQueries(t, 2*haLoadClients)
	err = harness.Poll(ctx, "the hot restart's parent to exit", time.Minute, 50*time.Millisecond, func() error {
		if !parent.Exited() {
			return fmt.Errorf("epoch %d still running", parent.Epoch())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	load.waitQueries(t, haLoadClients)
	if served := downstreamRequests(t, child); served == 0 {
		t.Error("the hot-restarted Envoy's new epoch served no request")
	}

	all := load.finish()
	var held, race []pyOutcome // broken with a connection the Envoy held; begun while it died
	for _, q := range all {
		if q.Error == nil {
			continue
		}
		start, end := time.Unix(0, int64(q.Start*1e9)), time.Unix(0, int64(q.End*1e9))
		atKill := transportError(*q.Error) && start.Before(goneAt) && end.After(killAt) && end.Before(killAt.Add(5*time.Second))
		switch {
		case atKill && start.Before(killAt):
			held = append(held, q)
		case atKill:
			race = append(race, q)
		default:
			t.Errorf("failed (kill at %s, process gone %s, restart done %s, hot restart at %s): %v", killAt.Format(time.StampMilli),
				goneAt.Format(time.StampMilli), restartedAt.Format(time.StampMilli), hotAt.Format(time.StampMilli), q)
		}
	}
	if int64(len(held)) > heldConns {
		t.Errorf("%d queries begun before the kill broke, but the killed Envoy held %d connections: %v", len(held), heldConns, held)
	}
	t.Logf("%d queries; the killed Envoy held %d connections and took %v to die; %d queries broke with its connections: %v; %d begun while it died broke: %v",
		len(all), heldConns, goneAt.Sub(killAt).Round(time.Millisecond), len(held), held, len(race), race)
}

// trackFresh runs one query through the gateway, every request on a new
// connection.
func trackFresh(server, sql string) ranQuery {
	q := ranQuery{Start: time.Now()}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	uri, method, body := server+"/v1/statement", http.MethodPost, sql
	for uri != "" {
		req, err := http.NewRequestWithContext(ctx, method, uri, strings.NewReader(body))
		if err != nil {
			q.Err = err
			return q
		}
		req.Header.Set("X-Trino-User", "e2e")
		resp, err := client.Do(req)
		if err != nil {
			q.Err = err
			return q
		}
		var qr harness.QueryResults
		err = json.NewDecoder(resp.Body).Decode(&qr)
		resp.Body.Close()
		if err != nil {
			q.Err = fmt.Errorf("HTTP %d: %v", resp.StatusCode, err)
			return q
		}
		if qr.Error != nil {
			q.Err = fmt.Errorf("%s: %s", qr.Error.ErrorName, qr.Error.Message)
			return q
		}
		q.ID, uri, method, body = qr.ID, qr.NextURI, http.MethodGet, ""
	}
	q.End = time.Now()
	return q
}

// TestHAKeepsConfigWhenXDSIsDown kills (SIGKILL) both replicas, so every
// xDS address in Envoy's bootstrap is gone: Envoy reports itself
// disconnected but keeps its last configuration (same versions), and a
// query it was returning, page by page, keeps its prefixed polls working
// to the end (rows equal to the cluster's own, no 502-504). The replica
// Envoy was not necessarily connected to comes back alone: Envoy reconnects
// to it on its own, with the same configuration version, and new
// submissions work again.
func TestHAKeepsConfigWhenXDSIsDown(t *testing.T) {
	ha, _ := startHA(t, 2, 1)
	en := ha.Envoys[0]
	ctx := context.Background()
	const sql = "SELECT orderkey, linenumber, partkey, comment FROM tpch.tiny.lineitem ORDER BY orderkey, linenumber"
	want, err := harness.RunQuery(ctx, trinoA.URL, "direct", sql, nil)
	if err != nil {
		t.Fatal(err)
	}
	versions, err := xdsVersions(en.Admin)
	if err != nil {
		t.Fatal(err)
	}
	qr, err := harness.Submit(ctx, ha.URL(), "e2e", sql, nil)
	if err != nil || qr.Error != nil {
		t.Fatalf("submission: %v %+v", err, qr.Error)
	}
	var rows [][]any
	retried := 0
	next := func() {
		t.Helper()
		var n int
		qr, n, err = harness.FetchRetries(ctx, http.MethodGet, qr.NextURI)
		retried += n
		if err != nil || qr.Error != nil {
			t.Fatalf("poll of query %s, %d rows read: %v %+v", qr.ID, len(rows), err, qr.Error)
		}
		rows = append(rows, qr.Data...)
	}
	for len(rows) == 0 && qr.NextURI != "" {
		next()
	}
	if qr.NextURI == "" {
		t.Fatalf("query %s returned all %d rows in one page; the test needs several", qr.ID, len(rows))
	}

	for _, r := range ha.Replicas {
		r.Kill()
	}
	waitConnected(t, en, 0)
	pages := 0
	for qr.NextURI != "" {
		next()
		pages++
	}
	if retried != 0 {
		t.Errorf("%d poll retries of 502-504 answers, want none", retried)
	}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Fatalf("with xDS down the gateway returned %d rows, the cluster %d; want the same rows", len(rows), len(want))
	}
	kept, err := xdsVersions(en.Admin)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(kept) != fmt.Sprint(versions) {
		t.Errorf("with xDS down Envoy's configuration versions went from %v to %v; want them kept", versions, kept)
	}

	back, err := env.RestartSwitchyard(ctx, ha.Replicas[1])
	if err != nil {
		t.Fatal(err)
	}
	ha.Replicas[1] = back
	waitConnected(t, en, 1)
	err = harness.Poll(ctx, "submissions to work again", time.Minute, 100*time.Millisecond, func() error {
		return track(ha.URL(), "SELECT 1").Err
	})
	if err != nil {
		t.Fatal(err)
	}
	again, err := xdsVersions(en.Admin)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(again) != fmt.Sprint(versions) {
		t.Errorf("after reconnecting to replica 2 Envoy's versions are %v, before the outage %v; want the same (same fleet, same content)", again, versions)
	}
	t.Logf("%d rows, %d pages read with every xDS address down; Envoy kept versions %v and reconnected to replica 2", len(rows), pages, kept)
}

// waitConnected waits for Envoy's control_plane.connected_state gauge.
func waitConnected(t *testing.T, en *harness.Envoy, want int64) {
	t.Helper()
	err := harness.Poll(context.Background(), fmt.Sprintf("%s control_plane.connected_state %d", en.Name, want), time.Minute, 20*time.Millisecond, func() error {
		st, err := en.Stats(`^control_plane\.connected_state$`)
		if err != nil {
			return err
		}
		if got := st["control_plane.connected_state"]; got != want {
			return fmt.Errorf("%d", got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestHATransactionRecordedByEveryReplica runs a Python transaction
// through an Envoy in front of two control-plane replicas: the response
// that names the new transaction is reported to both replicas (one
// transaction access log per replica), and each records it. With one log
// on the shared cluster, only the replica holding the log stream saw it,
// and a kill of that replica lost the transaction.
func TestHATransactionRecordedByEveryReplica(t *testing.T) {
	ha, _ := startHA(t, 2, 1)
	pyTransaction(t, ha.URL(), []string{"SELECT 1", "SELECT 2"})
	deadline := time.Now().Add(10 * time.Second)
	for {
		var seen [2]map[string]bool
		for i, r := range ha.Replicas[:2] {
			seen[i] = recordedTransactions(t, r.LogPath)
		}
		common := 0
		for id := range seen[0] {
			if seen[1][id] {
				common++
			}
		}
		if common > 0 {
			t.Logf("transactions recorded: replica 1 %v, replica 2 %v", seen[0], seen[1])
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no transaction was recorded by both replicas within 10 s (replica 1 %v, replica 2 %v)", seen[0], seen[1])
		}
		time.Sleep(50 * time.Millisecond) // polling the replicas' logs
	}
}

var transactionStarted = regexp.MustCompile(`transaction started.*?transaction"?[=:]"?([0-9a-f-]{36})`)

// recordedTransactions are the transaction IDs a replica's log says it
// recorded from the access log.
func recordedTransactions(t *testing.T, path string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, m := range transactionStarted.FindAllSubmatch(b, -1) {
		ids[string(m[1])] = true
	}
	return ids
}

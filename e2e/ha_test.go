package e2e

import (
	"context"
	"testing"
	"time"
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
	if live := afterDown[1] - atKill[1]; live < int64(len(down)) {
		t.Errorf("while replica 1 was down, replica 2 got %d ext_proc streams for %d queries; want at least one per query", live, len(down))
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

package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/e2e/harness"
)

// Two more Trino servers that these tests kill and restart; started once,
// on first use.
var (
	killableOnce   sync.Once
	trinoC, trinoD *harness.Trino
	killableErr    error
)

func killable(t *testing.T) (*harness.Trino, *harness.Trino) {
	t.Helper()
	killableOnce.Do(func() {
		o := harness.TrinoOptions{Files: killableResourceGroups}
		if trinoC, killableErr = env.StartTrino("trino-c", o); killableErr != nil {
			return
		}
		if trinoD, killableErr = env.StartTrino("trino-d", o); killableErr != nil {
			return
		}
		for _, tr := range []*harness.Trino{trinoC, trinoD} {
			if killableErr = tr.WaitReady(context.Background(), 3*time.Minute); killableErr != nil {
				return
			}
		}
	})
	if killableErr != nil {
		t.Fatal(killableErr)
	}
	return trinoC, trinoD
}

// ensureUp restarts a killed Trino and waits until it runs queries.
func ensureUp(t *testing.T, tr *harness.Trino) {
	t.Helper()
	if tr.Exited() {
		if err := tr.Restart(); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.WaitReady(context.Background(), 3*time.Minute); err != nil {
		t.Fatal(err)
	}
}

// clusterHealth polls the admin API until the cluster's health is want.
func waitClusterHealth(t *testing.T, g *gateway, name, want string, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	err := harness.Poll(context.Background(), name+" to be "+want, timeout, 50*time.Millisecond, func() error {
		out, err := cli(context.Background(), g, "cluster", "list")
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) > 3 && f[0] == name {
				if f[3] == want {
					return nil
				}
				return fmt.Errorf("%s is %s", name, f[3])
			}
		}
		return fmt.Errorf("%s not listed:\n%s", name, out)
	})
	if err != nil {
		t.Fatal(err)
	}
	return time.Since(start)
}

// TestCoordinatorKillUnderLoad kills (SIGKILL) the only coordinator of one
// of two clusters under load: 4 closed-loop clients plus an open loop of
// 3 queries/s (at most 16 of them in flight). A query held RUNNING on the
// killed coordinator fails at its next poll with a Trino-shaped
// COORDINATOR_UNREACHABLE (no hang, no bare HTTP error), as does any load
// query that was there; new queries keep running, on the other cluster;
// the cluster rejoins after restart.
func TestCoordinatorKillUnderLoad(t *testing.T) {
	v := newVerdict(t)
	c, _ := killable(t)
	ensureUp(t, c)
	cfg := withAdmin(harness.GatewayConfig{
		DefaultGroup: "adhoc", Groups: []string{"adhoc"},
		Clusters: []harness.ClusterSpec{
			{Name: "a", Group: "adhoc", Coordinators: []harness.CoordinatorSpec{{URL: trinoA.URL}}},
			{Name: "c", Group: "adhoc", Coordinators: []harness.CoordinatorSpec{{URL: c.URL}}},
		},
	})
	g := startGatewayWithClusters(t, cfg, "trino_a", "trino_c")
	// A query in flight on c at the kill, for certain: held RUNNING, unread.
	held, _ := holdQuery(t, g.URL(0), "on c", func(cluster, _ string) bool { return cluster == "c" })
	load := startLoad(t, g.URL(0), loadSpec{Clients: 4, Rate: 3, SQL: loadSQL})
	load.waitQueries(t, 12)

	killed := time.Now()
	c.Kill()
	requireCoordinatorUnreachable(t, held)
	detect := waitClusterHealth(t, g, "c", "unhealthy", 30*time.Second)
	load.waitQueries(t, 12)
	stats := load.requireConcurrent(t)
	qs := load.finish()

	var firstElsewhere, firstSubmitted time.Duration = -1, -1
	var lostOnC, after int
	for _, q := range qs {
		if q.Start.After(killed) {
			after++
			if q.Err != nil {
				v.Errorf("query started %v after the kill failed: %v", q.Start.Sub(killed).Round(time.Millisecond), q.Err)
			} else if q.Owner == "a" && (firstElsewhere < 0 || q.End.Sub(killed) < firstElsewhere) {
				firstElsewhere, firstSubmitted = q.End.Sub(killed), q.Start.Sub(killed)
			}
			continue
		}
		if q.Err != nil {
			lostOnC++
			if q.Owner != "c" && !q.SubmitErr {
				v.Errorf("query %s on %s failed: %v", q.ID, q.Owner, q.Err)
			}
			if !strings.Contains(q.Err.Error(), "COORDINATOR_UNREACHABLE") {
				v.Errorf("query %s on the killed coordinator ended with %v, want a COORDINATOR_UNREACHABLE Trino error", q.ID, q.Err)
			}
			// A hang detector, not a latency bound: Envoy answers a dead
			// coordinator's polls at once.
			if q.End.Sub(killed) > 20*time.Second {
				v.Errorf("query %s on the killed coordinator took %v after the kill to fail", q.ID, q.End.Sub(killed))
			}
		}
	}
	// Envoy's retries around the kill (a retry refused by a circuit
	// breaker shows as retry_overflow).
	if st, err := g.envoys[0].Stats(`cluster\.trino_c(_failover)?\.upstream_rq_retry(_overflow|_success)?$`); err == nil {
		t.Logf("envoy retries: %v", st)
	}
	if after == 0 || firstElsewhere < 0 {
		v.Fatalf("no query completed after the kill (%d started)", after)
	}
	t.Logf("kill -9 of c: the first new query (submitted %v after the kill) completed on a %v after it; the control plane marked c unhealthy after %v (until then Envoy's failover cluster sent c's share to a); %d load queries were lost on c besides the held one, %d started after the kill and all succeeded; %d poll retries of 502-504 in the load",
		firstSubmitted.Round(time.Millisecond), firstElsewhere.Round(time.Millisecond), detect.Round(time.Millisecond), lostOnC, after, stats.Retries)

	// c rejoins after a restart.
	ensureUp(t, c)
	rejoin := waitClusterHealth(t, g, "c", "healthy", 60*time.Second)
	landed := false
	for i := 0; i < 20 && !landed; i++ {
		q := track(g.URL(0), loadSQL)
		if q.Err != nil {
			v.Fatalf("query after the restart: %v", q.Err)
		}
		landed = q.Owner == "c"
	}
	if !landed {
		v.Fatalf("no new query went to c after it came back")
	}
	t.Logf("c rejoined %v after its restart completed", rejoin.Round(time.Millisecond))
}

// TestActiveStandbyFailover runs one cluster with an active and a standby
// coordinator: killing the active one moves new queries to the standby with
// no failed submission, a query held RUNNING on the active one fails at
// its next poll with COORDINATOR_UNREACHABLE (no hang, no bare HTTP
// error), and new queries move back when the active returns.
func TestActiveStandbyFailover(t *testing.T) {
	c, d := killable(t)
	ensureUp(t, c)
	ensureUp(t, d)
	cfg := withAdmin(harness.GatewayConfig{
		DefaultGroup: "adhoc", Groups: []string{"adhoc"},
		Clusters: []harness.ClusterSpec{{Name: "ha", Group: "adhoc", Coordinators: []harness.CoordinatorSpec{
			{Name: "primary", URL: c.URL}, {Name: "backup", URL: d.URL, Role: "standby"},
		}}},
	})
	g := startGatewayWithClusters(t, cfg, "trino_ha")
	held, _ := holdQuery(t, g.URL(0), "on the primary", func(_, coordinator string) bool { return coordinator == "primary" })
	load := startLoad(t, g.URL(0), loadSpec{Clients: 3, SQL: loadSQL})
	load.waitQueries(t, 6)
	killed := time.Now()
	c.Kill()
	requireCoordinatorUnreachable(t, held)
	load.waitQueries(t, 12)
	stats := load.requireConcurrent(t)
	qs := load.finish()
	var firstOnBackup time.Duration = -1
	lost, retried := 0, 0
	for _, q := range qs {
		if q.Start.Before(killed) {
			// Submitted before the kill: registered on the primary, and if
			// it was still running there it died with it and says so. A
			// submission still unanswered when the kill began may instead
			// have been retried on the standby (the connection to the
			// primary reset: Envoy's retry policy), and then runs there.
			switch {
			case q.Err != nil:
				lost++
				if !strings.Contains(q.Err.Error(), "COORDINATOR_UNREACHABLE") {
					t.Errorf("query in flight at the kill ended with %v, want COORDINATOR_UNREACHABLE", q.Err)
				}
			case q.Coordinator == "primary":
			case q.Coordinator == "backup" && q.Answered.After(killed):
				retried++
			default:
				t.Errorf("query %s submitted before the kill (answered %v after it) ran on %s", q.ID, q.Answered.Sub(killed).Round(time.Millisecond), q.Coordinator)
			}
			continue
		}
		if q.SubmitErr {
			t.Errorf("submission failed %v after the kill: %v", q.Start.Sub(killed).Round(time.Millisecond), q.Err)
			continue
		}
		if q.Err != nil || q.Coordinator != "backup" {
			t.Errorf("query %s after the kill: coordinator %s, %v", q.ID, q.Coordinator, q.Err)
		}
		if firstOnBackup < 0 || q.End.Sub(killed) < firstOnBackup {
			firstOnBackup = q.End.Sub(killed)
		}
	}
	if firstOnBackup < 0 {
		t.Fatalf("no query submitted after the kill completed on the standby (%d queries)", len(qs))
	}
	t.Logf("standby took the first new query, completed %v after the kill; %d load queries in flight on the primary were lost besides the held one, %d submissions in flight at the kill were retried on the standby; %d poll retries of 502-504 in the load", firstOnBackup.Round(time.Millisecond), lost, retried, stats.Retries)

	// The active coordinator returns: new queries move back (failback).
	ensureUp(t, c)
	err := harness.Poll(context.Background(), "new queries back on the primary", 60*time.Second, 200*time.Millisecond, func() error {
		q := track(g.URL(0), loadSQL)
		if q.Err != nil {
			return q.Err
		}
		if q.Coordinator != "primary" {
			return fmt.Errorf("query ran on %s", q.Coordinator)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

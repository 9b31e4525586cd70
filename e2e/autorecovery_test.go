package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/e2e/harness"
)

// clusterView is the part of GET /api/v1/clusters/{name} these tests read.
type clusterView struct {
	State        string `json:"state"`
	AutoRecovery *struct {
		Reason string    `json:"reason"`
		Since  time.Time `json:"since"`
	} `json:"autoRecovery"`
	Coordinators []struct {
		Health struct {
			Restarts int `json:"restarts"`
		} `json:"health"`
	} `json:"coordinators"`
}

// TestAutoRecoveryRestartLoop: with auto-recovery on, a coordinator
// restarted three times within a minute is taken out of rotation (the
// reason in the API, the audit log, an alert in a real Alertmanager),
// and put back once it has been stable for the configured time; the
// other cluster serves throughout without a failed query.
func TestAutoRecoveryRestartLoop(t *testing.T) {
	v := newVerdict(t)
	ctx := context.Background()
	c, _ := killable(t)
	ensureUp(t, c)
	am, err := env.StartAlertmanager(ctx, t.Name()+"-alertmanager", "route: {receiver: none}\nreceivers: [{name: none}]\n")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(am.Stop)
	const stableFor = 20 * time.Second
	cfg := withAdmin(harness.GatewayConfig{
		DefaultGroup: "adhoc", Groups: []string{"adhoc"},
		Clusters: []harness.ClusterSpec{
			{Name: "a", Group: "adhoc", Coordinators: []harness.CoordinatorSpec{{URL: trinoA.URL}}},
			{Name: "c", Group: "adhoc", Coordinators: []harness.CoordinatorSpec{{URL: c.URL}}},
		},
	})
	cfg.Extra["autoRecovery"] = map[string]any{
		"enabled": true, "interval": "500ms", "stableFor": stableFor.String(),
		"restartLoop": map[string]any{"restarts": 3, "window": "2m"},
		"notify":      map[string]any{"url": "http://" + am.Addr, "format": "alertmanager"},
	}
	g := startGatewayWithClusters(t, cfg, "trino_a", "trino_c")
	cp := g.cps[0]
	view := func() clusterView {
		var cv clusterView
		if st := adminCall(t, cp, http.MethodGet, "/api/v1/clusters/c", nil, &cv); st != http.StatusOK {
			v.Fatalf("GET /api/v1/clusters/c: HTTP %d", st)
		}
		return cv
	}
	load := startLoad(t, g.URL(0), loadSpec{Clients: 2, SQL: loadSQL})
	load.waitQueries(t, 4)

	// Three restarts, each seen by the health checks before the next.
	start := time.Now()
	for i := 1; i <= 3; i++ {
		c.Kill()
		if err := c.Restart(); err != nil {
			v.Fatalf("restart %d: %v", i, err)
		}
		err := harness.Poll(ctx, fmt.Sprintf("restart %d to be seen", i), 2*time.Minute, 100*time.Millisecond, func() error {
			if n := view().Coordinators[0].Health.Restarts; n < i {
				return fmt.Errorf("%d restarts seen", n)
			}
			return nil
		})
		if err != nil {
			v.Fatalf("%v", err)
		}
	}
	t.Logf("3 restarts of c in %v", time.Since(start).Round(time.Second))
	var out clusterView
	err = harness.Poll(ctx, "c to be taken out", 30*time.Second, 100*time.Millisecond, func() error {
		if out = view(); out.State != "inactive" || out.AutoRecovery == nil {
			return fmt.Errorf("c is %s", out.State)
		}
		return nil
	})
	if err != nil {
		v.Fatalf("%v", err)
	}
	if !strings.Contains(out.AutoRecovery.Reason, "coordinator 0 restarted 3 times") {
		v.Errorf("reason %q", out.AutoRecovery.Reason)
	}
	t.Logf("taken out: %s", out.AutoRecovery.Reason)
	// The alert in Alertmanager.
	err = harness.Poll(ctx, "the take-out in Alertmanager", 30*time.Second, 200*time.Millisecond, func() error {
		alerts, err := am.Alerts(ctx)
		if err != nil {
			return err
		}
		for _, a := range alerts {
			if a.Labels["alertname"] == "SwitchyardAutoRecovery" && a.Labels["cluster"] == "c" && a.Labels["action"] == "take_out" && a.Status.State == "active" {
				return nil
			}
		}
		return fmt.Errorf("not among %d alerts", len(alerts))
	})
	if err != nil {
		v.Errorf("%v", err)
	}

	// Back after the stable period, not before.
	ensureUp(t, c)
	err = harness.Poll(ctx, "c to be put back", 3*time.Minute, 200*time.Millisecond, func() error {
		if cv := view(); cv.State != "active" {
			return fmt.Errorf("c is %s", cv.State)
		}
		return nil
	})
	if err != nil {
		v.Fatalf("%v", err)
	}
	back := time.Now()
	if held := back.Sub(out.AutoRecovery.Since); held < stableFor {
		v.Errorf("put back %v after it was taken out, before the stable period (%v)", held, stableFor)
	}
	t.Logf("put back %v after it was taken out", back.Sub(out.AutoRecovery.Since).Round(time.Second))
	err = harness.Poll(ctx, "the take-out alert to be resolved", 30*time.Second, 200*time.Millisecond, func() error {
		alerts, err := am.Alerts(ctx)
		if err != nil {
			return err
		}
		for _, a := range alerts {
			if a.Labels["alertname"] == "SwitchyardAutoRecovery" && a.Labels["cluster"] == "c" && a.Status.State == "active" {
				return fmt.Errorf("still active")
			}
		}
		return nil
	})
	if err != nil {
		v.Errorf("%v", err)
	}

	// The API and the audit log have both actions.
	var ar struct {
		Enabled bool `json:"enabled"`
		Out     []any
		Actions []struct {
			Who    string `json:"who"`
			Path   string `json:"path"`
			Detail string `json:"detail"`
		} `json:"actions"`
	}
	adminCall(t, cp, http.MethodGet, "/api/v1/autorecovery", nil, &ar)
	var paths []string
	for _, a := range ar.Actions {
		paths = append(paths, a.Path)
	}
	if !ar.Enabled || len(ar.Actions) < 2 || ar.Actions[0].Path != "/api/v1/clusters/c/readmit" || ar.Actions[1].Path != "/api/v1/clusters/c/take_out" {
		v.Errorf("GET /api/v1/autorecovery: %+v", ar)
	}
	if n := replicaMetric(t, cp, `switchyard_autorecovery_actions_total{action="take_out",kind="restart_loop",outcome="done"}`); n != 1 {
		v.Errorf("take_out counted %v times", n)
	}

	// A new query lands on c again; the other cluster failed nothing.
	landed := false
	for i := 0; i < 20 && !landed; i++ {
		q := track(g.URL(0), loadSQL)
		landed = q.Err == nil && q.Owner == "c"
	}
	if !landed {
		v.Errorf("no query went to c after it was put back")
	}
	qs := load.finish()
	onA, failedElsewhere := 0, 0
	for _, q := range qs {
		if q.Owner == "a" {
			onA++
			if q.Err != nil {
				v.Errorf("query %s on a failed: %v", q.ID, q.Err)
			}
		} else if q.Err != nil {
			failedElsewhere++
		}
	}
	if onA == 0 {
		v.Errorf("no load query ran on a")
	}
	t.Logf("load: %d queries, %d on a (none failed), %d failed on c while it restarted; actions %v", len(qs), onA, failedElsewhere, paths)
}

package soak

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/e2e/harness"
	"github.com/switchyard-gw/switchyard/pkg/config"
)

const (
	adminToken = "soak-admin-token-0123456789"
	soakGroup  = "adhoc"
)

// topology is everything the soak runs against: two single-node Trino
// clusters of its own, two control-plane replicas sharing Redis (or a
// Sentinel-managed Redis), and two Envoys. Faults change its members
// (a restarted process replaces the killed one), so members are read
// under mu.
type topology struct {
	env *harness.Env

	mu       sync.Mutex
	clusters []*cluster
	cps      []*harness.Switchyard
	envoys   []*envoySlot
	// redis is the shared store: a primary, a replica and three
	// sentinels; the Sentinel failover fault fails it over (sentinel).
	redis    *harness.Sentinel
	sentinel redisFailover
	// storeDesc says which Redis the control plane uses, for the report.
	storeDesc string
	// policyDir is the policy directory the control plane loaded first.
	policyDir string
	// xdsPerEnvoy says how each Envoy was bootstrapped, for the report.
	xdsDesc string
}

// redisFailover is the part of a Sentinel-managed Redis the soak uses.
type redisFailover interface {
	// Failover makes Sentinel promote a replica and waits until it has.
	Failover(ctx context.Context) error
}

// cluster is one Trino cluster of the fleet with its single coordinator.
type cluster struct {
	name  string
	trino *harness.Trino
}

// envoySlot is one Envoy with what it takes to restart it, and the state
// of the soak's load balancer health check in front of it.
type envoySlot struct {
	index    int
	name     string
	xds      string // bootstrap --xds (comma separated)
	listener string // client listener host:port
	envoy    *harness.Envoy
	up       atomic.Bool // the load balancer's view (TCP check)
}

// URL is the client address of the Envoy.
func (s *envoySlot) URL() string { return "http://" + s.listener }

// trinoExtra is the soak clusters' configuration beyond deploy/trino: a
// query whose client stopped polling (its connection died with a killed
// Envoy) is abandoned after a minute rather than Trino's default five, so
// the drains of the next faults do not wait on it.
var trinoExtra = []string{"query.client.timeout=1m"}

// buildTopology starts the soak's own Trino clusters, Redis, two
// control-plane replicas (each lists both replicas in
// controlPlane.extProcTargets) and two Envoys. It is the one place that
// decides the topology: when the harness has a control-plane HA helper
// and Redis Sentinel, this function switches to them.
//
// Today each Envoy takes xDS from its own replica only: both replicas'
// configurations are identical except for the listener address, and an
// Envoy that switched to the other replica's xDS would move its listener
// onto the other Envoy's port (two Envoys on one machine).
func buildTopology(t testing.TB, ctx context.Context, env *harness.Env) *topology {
	t.Helper()
	topo := &topology{env: env}
	t.Cleanup(topo.stop)

	// The Trino clusters start first (tens of seconds on two cores) and
	// in parallel.
	for _, name := range []string{"a", "b"} {
		tr, err := env.StartTrino("soak-trino-"+name, harness.TrinoOptions{Extra: trinoExtra})
		if err != nil {
			t.Fatal(err)
		}
		topo.clusters = append(topo.clusters, &cluster{name: name, trino: tr})
	}
	for _, c := range topo.clusters {
		if err := c.trino.WaitReady(ctx, 4*time.Minute); err != nil {
			t.Fatal(err)
		}
	}

	redis, err := env.StartSentinel(ctx, "soak-redis")
	if err != nil {
		t.Fatal(err)
	}
	topo.redis, topo.sentinel = redis, redis
	topo.storeDesc = fmt.Sprintf("Redis under Sentinel: a primary, a replica and %d sentinels (quorum 2), persistence off; the control plane in store.redis.mode sentinel", len(redis.SentinelAddrs))

	topo.policyDir = filepath.Join(env.Dir, "policies-initial")
	if err := copyPolicies(env, topo.policyDir, nil); err != nil {
		t.Fatal(err)
	}

	// Every address is chosen before the first replica starts: each
	// replica's configuration lists both ext_proc addresses.
	type addrs struct{ listener, admin, xds, extProc, resubmit, queue string }
	var as []addrs
	for range 2 {
		var a addrs
		for _, p := range []*string{&a.listener, &a.admin, &a.xds, &a.extProc, &a.resubmit, &a.queue} {
			if *p, err = harness.FreeAddr(); err != nil {
				t.Fatal(err)
			}
		}
		as = append(as, a)
	}
	targets := []string{as[0].extProc, as[1].extProc}
	resubmits := []string{as[0].resubmit, as[1].resubmit}
	queues := []string{as[0].queue, as[1].queue}
	for i, a := range as {
		cfg := harness.GatewayConfig{
			ListenerAddr: a.listener, AdminAddr: a.admin, XDSAddr: a.xds, ExtProcAddr: a.extProc, ResubmitAddr: a.resubmit,
			QueueAddr: a.queue, ExtProcTargets: targets, ResubmitTargets: resubmits, QueueTargets: queues,
			DefaultGroup: soakGroup, Groups: []string{soakGroup},
			LogLevel: "info",
			Extra: map[string]any{
				"store": map[string]any{"type": "redis", "redis": map[string]any{
					"mode": "sentinel", "addresses": redis.SentinelAddrs, "masterName": redis.MasterName}},
				"admin":  map[string]any{"tokens": []map[string]any{{"name": "soak", "tokenHash": config.HashToken(adminToken), "role": "admin"}}},
				"policy": map[string]any{"dir": topo.policyDir},
			},
		}
		for _, c := range topo.clusters {
			cfg.Clusters = append(cfg.Clusters, harness.ClusterSpec{
				Name: c.name, Group: soakGroup,
				Coordinators: []harness.CoordinatorSpec{{Name: c.name + "-1", URL: c.trino.URL}},
			})
		}
		cp, err := env.StartSwitchyard(ctx, fmt.Sprintf("soak-cp%d", i+1), cfg)
		if err != nil {
			t.Fatal(err)
		}
		topo.cps = append(topo.cps, cp)
	}
	topo.xdsDesc = "each Envoy bootstrapped with its own replica's xDS address (each Envoy has its own listener port, which the configuration names); both replicas in controlPlane.extProcTargets and resubmitTargets"
	for i, a := range as {
		slot := &envoySlot{index: i, name: fmt.Sprintf("soak-envoy%d", i+1), xds: a.xds, listener: a.listener}
		if err := topo.startEnvoy(ctx, slot); err != nil {
			t.Fatal(err)
		}
		topo.envoys = append(topo.envoys, slot)
	}
	if err := topo.waitFleetHealthy(ctx, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	return topo
}

// startEnvoy starts (or restarts) the Envoy of a slot and waits until
// its health checks pass for every Trino cluster.
func (topo *topology) startEnvoy(ctx context.Context, slot *envoySlot) error {
	en, err := topo.env.StartEnvoy(ctx, slot.name, slot.xds, slot.listener)
	if err != nil {
		return err
	}
	topo.mu.Lock()
	slot.envoy = en
	topo.mu.Unlock()
	var names []string
	for _, c := range topo.clusters {
		names = append(names, "trino_"+c.name)
	}
	return en.WaitHealthy(ctx, names...)
}

// stop ends every process of the topology that is still running.
func (topo *topology) stop() {
	topo.mu.Lock()
	defer topo.mu.Unlock()
	for _, s := range topo.envoys {
		if s.envoy != nil {
			s.envoy.Stop()
		}
	}
	for _, cp := range topo.cps {
		cp.Stop()
	}
	if topo.redis != nil {
		topo.redis.Stop()
	}
	for _, c := range topo.clusters {
		c.trino.Stop()
	}
}

// procs lists the current processes, for a log dump.
func (topo *topology) procs() []*harness.Proc {
	topo.mu.Lock()
	defer topo.mu.Unlock()
	var out []*harness.Proc
	for _, c := range topo.clusters {
		out = append(out, c.trino.Proc)
	}
	if topo.redis != nil {
		out = append(out, topo.redis.Procs...)
	}
	for _, cp := range topo.cps {
		out = append(out, cp.Proc)
	}
	for _, s := range topo.envoys {
		if s.envoy != nil {
			out = append(out, s.envoy.Proc)
		}
	}
	return out
}

// liveCP is a control-plane replica that is running (for admin calls).
func (topo *topology) liveCP() (*harness.Switchyard, error) {
	topo.mu.Lock()
	defer topo.mu.Unlock()
	for _, cp := range topo.cps {
		if !cp.Exited() {
			return cp, nil
		}
	}
	return nil, fmt.Errorf("no control-plane replica is running")
}

// switchyardCLI runs the switchyard CLI against a live replica's admin API.
func (topo *topology) switchyardCLI(ctx context.Context, args ...string) (string, error) {
	cp, err := topo.liveCP()
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, topo.env.Bin, args...)
	cmd.Env = append(os.Environ(), "SWITCHYARD_ADMIN=http://"+cp.AdminAddr, "SWITCHYARD_TOKEN="+adminToken)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("switchyard %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// clusterView is the part of the admin API's cluster list the soak reads.
type clusterView struct {
	Name   string `json:"name"`
	State  string `json:"state"`
	Health string `json:"health"`
}

// clusterViews reads GET /api/v1/clusters from every running replica.
func (topo *topology) clusterViews(ctx context.Context) (map[string][]clusterView, error) {
	topo.mu.Lock()
	cps := append([]*harness.Switchyard(nil), topo.cps...)
	topo.mu.Unlock()
	out := map[string][]clusterView{}
	for _, cp := range cps {
		if cp.Exited() {
			continue
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+cp.AdminAddr+"/api/v1/clusters", nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := adminClient.Do(req)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", cp.Name, err)
		}
		var vs []clusterView
		err = json.NewDecoder(resp.Body).Decode(&vs)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", cp.Name, err)
		}
		out[cp.Name] = vs
	}
	return out, nil
}

var adminClient = &http.Client{Timeout: 5 * time.Second}

// waitFleetHealthy waits until every running replica sees every cluster
// active and healthy.
func (topo *topology) waitFleetHealthy(ctx context.Context, timeout time.Duration) error {
	return harness.Poll(ctx, "every replica to see every cluster active and healthy", timeout, 200*time.Millisecond, func() error {
		views, err := topo.clusterViews(ctx)
		if err != nil {
			return err
		}
		for cp, vs := range views {
			for _, v := range vs {
				if v.State != "active" || v.Health != "healthy" {
					return fmt.Errorf("%s sees %s %s and %s", cp, v.Name, v.State, v.Health)
				}
			}
		}
		return nil
	})
}

// watchEnvoys is the soak's load balancer health check in front of the
// Envoys: a TCP connect to each listener every 250 ms; one failure takes
// an Envoy out of rotation, two successes in a row put it back. Clients
// that choose an Envoy per query (the Python loops, each CLI batch) take
// one in rotation.
func (topo *topology) watchEnvoys(ctx context.Context) {
	rise := make([]int, len(topo.envoys))
	for _, s := range topo.envoys {
		s.up.Store(true)
	}
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		for i, s := range topo.envoys {
			c, err := net.DialTimeout("tcp", s.listener, 200*time.Millisecond)
			if err != nil {
				rise[i] = 0
				s.up.Store(false)
				continue
			}
			c.Close()
			if rise[i]++; rise[i] >= 2 {
				s.up.Store(true)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pickEnvoy is the load balancer: round robin over the Envoys in
// rotation (over all of them when none is).
func (topo *topology) pickEnvoy(n int) *envoySlot {
	var up []*envoySlot
	for _, s := range topo.envoys {
		if s.up.Load() {
			up = append(up, s)
		}
	}
	if len(up) == 0 {
		up = topo.envoys
	}
	return up[n%len(up)]
}

// clusterOfQuery finds which cluster knows a Trino query ID (GET
// /v1/query/{id} on each coordinator), with the query's error name when it
// failed there. When no coordinator knows it but exactly one does not
// answer at all (it was killed: its history died with it) and every other
// one answers that it does not know the query, the query was that
// cluster's: clusters keep every query of the run (query.min-expire-age
// is 30 minutes). Empty when it cannot tell.
func (topo *topology) clusterOfQuery(ctx context.Context, id string) (cluster string, errName string) {
	var unreachable []string
	for _, c := range topo.clusters {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.trino.URL+"/v1/query/"+id, nil)
		if err != nil {
			return "", ""
		}
		req.Header.Set("X-Trino-User", soakUser)
		resp, err := adminClient.Do(req)
		if err != nil {
			unreachable = append(unreachable, c.name)
			continue
		}
		var info struct {
			ErrorCode *struct {
				Name string `json:"name"`
			} `json:"errorCode"`
		}
		ok := resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&info) == nil
		resp.Body.Close()
		if ok {
			if info.ErrorCode != nil {
				errName = info.ErrorCode.Name
			}
			return c.name, errName
		}
	}
	if len(unreachable) == 1 {
		return unreachable[0], ""
	}
	return "", ""
}

// soakUser is the user every soak client runs as.
const soakUser = "soak"

// copyPolicies copies the shipped policies into dir, with
// data.switchyard.settings changes. The soak user is always added to the
// service users: its load (several hundred queries a minute from one
// user) runs in the default workload class, so governance admits and
// releases every query through the faults while the analyst class's
// per-user rate, sized for a person, does not refuse it.
func copyPolicies(env *harness.Env, dir string, settings map[string]any) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	settings = maps.Clone(settings)
	if settings == nil {
		settings = map[string]any{}
	}
	src := filepath.Join(env.Root, "policies")
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return err
		}
		if e.Name() == "data.json" {
			var doc map[string]map[string]map[string]any
			if err := json.Unmarshal(b, &doc); err != nil {
				return err
			}
			users, _ := doc["switchyard"]["settings"]["service_users"].([]any)
			settings["service_users"] = append(slices.Clone(users), soakUser)
			for k, v := range settings {
				doc["switchyard"]["settings"][k] = v
			}
			if b, err = json.MarshalIndent(doc, "", "  "); err != nil {
				return err
			}
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

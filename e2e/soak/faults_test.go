package soak

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// fault is one kind of failure the soak injects under load. A fault is
// injected at the start of its window and recovered (restarted,
// re-activated) once it has held for a while; excuse applies the fault's
// excuse rule to a finished query.
type fault interface {
	name() string
	// inject causes the failure; it returns what it did, for the report.
	inject(ctx context.Context) (string, error)
	// recover undoes it and waits until the topology is whole again.
	recover(ctx context.Context) (string, error)
	// excuse says why a failed query was unavoidable given what this
	// fault did, or "" when it was not. onKilled is true when the query
	// ran on a killed coordinator (it leaves the availability
	// denominator). It is called for every failed query with every
	// fault injected so far, so it checks times itself.
	excuse(o *outcome) (reason string, onKilled bool)
	// rule states the excuse rule, for the report.
	rule() string
}

// skippedFault is a fault of the rotation that this topology cannot
// inject, with the reason; the report lists it.
type skippedFault struct {
	Name, Reason string
}

// faults builds the rotation from what the topology provides, in the
// issue's order: a fault the topology cannot inject is skipped with the
// reason.
func (topo *topology) faults(hold time.Duration) ([]fault, []skippedFault) {
	fs := []fault{&coordinatorKill{topo: topo, hold: hold}, &replicaKill{topo: topo, hold: hold}}
	var skipped []skippedFault
	if topo.sentinel != nil {
		fs = append(fs, &sentinelFailover{topo: topo})
	} else {
		skipped = append(skipped, skippedFault{"Redis Sentinel failover",
			"the harness has no Redis Sentinel yet (the soak runs on one redis-server); the fault runs once buildTopology sets topology.sentinel"})
	}
	fs = append(fs, &envoyKill{topo: topo, hold: hold}, &blueGreen{topo: topo}, &drainReactivate{topo: topo}, &policyReload{topo: topo})
	return fs, skipped
}

// waitHold lets a fault hold for d (this is the fault's duration, not a
// synchronisation: the load runs meanwhile).
func waitHold(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// kill is one kill -9 of a process and when it happened.
type kill struct {
	target      string // cluster name, replica or Envoy index
	at, backAt  time.Time
	backPending bool
}

// kills is the history of a fault's kills, shared by inject, recover and
// excuse (which the accounting calls after the run).
type kills struct {
	mu   sync.Mutex
	list []*kill
}

func (k *kills) add(target string) *kill {
	k.mu.Lock()
	defer k.mu.Unlock()
	x := &kill{target: target, at: time.Now(), backPending: true}
	k.list = append(k.list, x)
	return x
}

func (k *kills) back(x *kill) {
	k.mu.Lock()
	defer k.mu.Unlock()
	x.backAt, x.backPending = time.Now(), false
}

func (k *kills) each(f func(*kill) bool) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, x := range k.list {
		if f(x) {
			return true
		}
	}
	return false
}

// coordinatorKill kills -9 the coordinator of cluster a, then b, in turn,
// and restarts it after hold.
type coordinatorKill struct {
	topo *topology
	hold time.Duration
	n    int
	cur  *kill
	kills
}

func (f *coordinatorKill) name() string { return "kill -9 a coordinator, restart it" }

func (f *coordinatorKill) rule() string {
	return "a query that failed with a Trino-shaped error (an error name from the server, not a transport failure), " +
		"or whose response was cut short mid-way (the coordinator died while Envoy streamed its answer: a response under way " +
		"cannot be replaced by an error), ran on the killed coordinator (its nextUri prefix, or its query ID found on that cluster), " +
		"was submitted before the kill and had not ended by then: it was running on the killed coordinator " +
		"(excused, and left out of the availability denominator)"
}

func (f *coordinatorKill) inject(ctx context.Context) (string, error) {
	c := f.topo.clusters[f.n%len(f.topo.clusters)]
	f.n++
	f.cur = f.add(c.name)
	c.trino.Kill()
	if err := waitHold(ctx, f.hold); err != nil {
		return "", err
	}
	return fmt.Sprintf("kill -9 of cluster %s's coordinator (pid group of %s)", c.name, c.trino.Name), nil
}

func (f *coordinatorKill) recover(ctx context.Context) (string, error) {
	var c *cluster
	for _, x := range f.topo.clusters {
		if x.name == f.cur.target {
			c = x
		}
	}
	start := time.Now()
	if err := c.trino.Restart(); err != nil {
		return "", err
	}
	if err := c.trino.WaitReady(ctx, 4*time.Minute); err != nil {
		return "", err
	}
	ready := time.Since(start)
	if err := f.topo.waitFleetHealthy(ctx, 60*time.Second); err != nil {
		return "", err
	}
	f.back(f.cur)
	return fmt.Sprintf("restarted; Trino ran queries after %v, every replica saw it healthy after %v",
		ready.Round(time.Second), time.Since(start).Round(time.Second)), nil
}

func (f *coordinatorKill) excuse(o *outcome) (string, bool) {
	var reason string
	f.each(func(k *kill) bool {
		if (o.Clear || cutShort(o.ErrMsg)) && o.Cluster == k.target && startedBefore(o, k.at) && !o.End.Before(k.at) {
			reason = fmt.Sprintf("running on cluster %s's coordinator when it was killed", k.target)
			return true
		}
		return false
	})
	return reason, reason != ""
}

// startedBefore reports whether a query was submitted before at: its
// recorded start, or the creation time in its query ID. A CLI query's
// recorded start is when the previous query's output line arrived, which
// can come in the same read as its own failure, after the kill; but a
// query the killed coordinator created was created before it died (its
// ID's time has a second's resolution, and a restarted coordinator only
// creates queries a minute or more later).
func startedBefore(o *outcome, at time.Time) bool {
	if o.Start.Before(at) {
		return true
	}
	for _, id := range o.QueryIDs {
		if created, ok := queryIDTime(id); ok && created.Before(at.Add(time.Second)) {
			return true
		}
	}
	return false
}

// queryIDTime is the creation time (to the second, UTC) in a Trino query
// ID such as 20261205_013005_00119_x9944.
func queryIDTime(id string) (time.Time, bool) {
	if len(id) < 15 {
		return time.Time{}, false
	}
	t, err := time.Parse("20060102_150405", id[:15])
	return t, err == nil
}

// replicaKill kills -9 control-plane replica 1, then 2, in turn, and
// restarts it after hold. Nothing is excused: with two replicas, one
// replica's death must fail no submission and no running query.
type replicaKill struct {
	topo *topology
	hold time.Duration
	n    int
	cur  int
	kills
}

func (f *replicaKill) name() string { return "kill -9 a control-plane replica, restart it" }

func (f *replicaKill) rule() string {
	return "nothing is excused: with two replicas, one replica's death must fail no submission and no running query"
}

func (f *replicaKill) inject(ctx context.Context) (string, error) {
	f.topo.mu.Lock()
	f.cur = f.n % len(f.topo.cps)
	cp := f.topo.cps[f.cur]
	f.topo.mu.Unlock()
	f.n++
	f.add(cp.Name)
	cp.Kill()
	if err := waitHold(ctx, f.hold); err != nil {
		return "", err
	}
	return "kill -9 of " + cp.Name, nil
}

func (f *replicaKill) recover(ctx context.Context) (string, error) {
	f.topo.mu.Lock()
	cp := f.topo.cps[f.cur]
	f.topo.mu.Unlock()
	start := time.Now()
	n, err := f.topo.env.RestartSwitchyard(ctx, cp)
	if err != nil {
		return "", err
	}
	f.topo.mu.Lock()
	f.topo.cps[f.cur] = n
	f.topo.mu.Unlock()
	if err := f.topo.waitFleetHealthy(ctx, 60*time.Second); err != nil {
		return "", err
	}
	return fmt.Sprintf("restarted; ready and seeing a healthy fleet after %v", time.Since(start).Round(time.Millisecond)), nil
}

func (f *replicaKill) excuse(*outcome) (string, bool) { return "", false }

// sentinelFailover makes Redis Sentinel fail the primary over to a
// replica. Nothing is excused: a failover under load loses no query.
type sentinelFailover struct {
	topo *topology
}

func (f *sentinelFailover) name() string { return "Redis Sentinel failover" }

func (f *sentinelFailover) rule() string {
	return "nothing is excused: a Sentinel failover under load loses no query"
}

func (f *sentinelFailover) inject(ctx context.Context) (string, error) {
	start := time.Now()
	if err := f.topo.sentinel.Failover(ctx); err != nil {
		return "", err
	}
	return fmt.Sprintf("Sentinel failover; the new primary was promoted after %v", time.Since(start).Round(time.Millisecond)), nil
}

func (f *sentinelFailover) recover(context.Context) (string, error) {
	return "nothing to undo (the old primary rejoins as a replica)", nil
}

func (f *sentinelFailover) excuse(*outcome) (string, bool) { return "", false }

// envoyKill kills -9 Envoy 1, then 2, in turn, and restarts it after
// hold.
type envoyKill struct {
	topo *topology
	hold time.Duration
	n    int
	cur  *kill
	kills
}

func (f *envoyKill) name() string { return "kill -9 an Envoy, restart it" }

func (f *envoyKill) rule() string {
	return "a query sent through the killed Envoy that failed with a connection error (refused, reset, closed without response or in the middle of one) " +
		"and was in flight at the kill or started before that Envoy was back: its client's connection was to the dead process, " +
		"which a client would retry (an L4 load balancer, here the soak's TCP check every 250 ms, takes the Envoy out of rotation; " +
		"clients pinned to one Envoy, the JDBC loop, cannot avoid it)"
}

func (f *envoyKill) inject(ctx context.Context) (string, error) {
	slot := f.topo.envoys[f.n%len(f.topo.envoys)]
	f.n++
	f.cur = f.add(fmt.Sprint(slot.index))
	f.topo.mu.Lock()
	en := slot.envoy
	f.topo.mu.Unlock()
	en.Kill()
	if err := waitHold(ctx, f.hold); err != nil {
		return "", err
	}
	return "kill -9 of " + slot.name, nil
}

func (f *envoyKill) recover(ctx context.Context) (string, error) {
	var slot *envoySlot
	for _, s := range f.topo.envoys {
		if fmt.Sprint(s.index) == f.cur.target {
			slot = s
		}
	}
	start := time.Now()
	if err := f.topo.startEnvoy(ctx, slot); err != nil {
		return "", err
	}
	f.back(f.cur)
	return fmt.Sprintf("restarted; live with healthy upstreams after %v", time.Since(start).Round(time.Millisecond)), nil
}

func (f *envoyKill) excuse(o *outcome) (string, bool) {
	if !connectionError(o.ErrMsg) {
		return "", false
	}
	var reason string
	f.each(func(k *kill) bool {
		back := k.backAt
		if k.backPending {
			back = time.Now()
		}
		if fmt.Sprint(o.Envoy) == k.target && !o.End.Before(k.at) && o.Start.Before(back) {
			reason = fmt.Sprintf("connection to envoy%d, killed at %s", o.Envoy+1, k.at.Format("15:04:05.000"))
			return true
		}
		return false
	})
	return reason, false
}

// blueGreen moves the group to one cluster with `switchyard bluegreen`
// (the other drains), then re-activates the other. Nothing is excused.
type blueGreen struct {
	topo *topology
	n    int
	to   string
}

func (f *blueGreen) name() string { return "blue/green switch" }

func (f *blueGreen) rule() string {
	return "nothing is excused: a blue/green switch interrupts no query"
}

func (f *blueGreen) inject(ctx context.Context) (string, error) {
	from := f.topo.clusters[f.n%len(f.topo.clusters)].name
	f.to = f.topo.clusters[(f.n+1)%len(f.topo.clusters)].name
	f.n++
	ctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	start := time.Now()
	out, err := f.topo.switchyardCLI(ctx, "bluegreen", "--group", soakGroup, "--to", f.to, "--drain-timeout", "3m")
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("switchyard bluegreen --group %s --to %s (%s drained after %v): %s", soakGroup, f.to, from,
		time.Since(start).Round(time.Millisecond), firstLine(out)), nil
}

func (f *blueGreen) recover(ctx context.Context) (string, error) {
	var other string
	for _, c := range f.topo.clusters {
		if c.name != f.to {
			other = c.name
		}
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := f.topo.switchyardCLI(ctx, "cluster", "activate", other); err != nil {
		return "", err
	}
	if err := f.topo.waitFleetHealthy(ctx, 60*time.Second); err != nil {
		return "", err
	}
	return "switchyard cluster activate " + other, nil
}

func (f *blueGreen) excuse(*outcome) (string, bool) { return "", false }

// drainReactivate drains a cluster (waiting until its queries finish),
// then activates it again. Nothing is excused.
type drainReactivate struct {
	topo *topology
	n    int
	cur  string
}

func (f *drainReactivate) name() string { return "drain a cluster, re-activate it" }

func (f *drainReactivate) rule() string { return "nothing is excused: a drain interrupts no query" }

func (f *drainReactivate) inject(ctx context.Context) (string, error) {
	f.cur = f.topo.clusters[f.n%len(f.topo.clusters)].name
	f.n++
	ctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	start := time.Now()
	if _, err := f.topo.switchyardCLI(ctx, "cluster", "drain", f.cur, "--wait", "--timeout", "3m"); err != nil {
		return "", err
	}
	return fmt.Sprintf("switchyard cluster drain %s --wait: drained after %v", f.cur, time.Since(start).Round(time.Millisecond)), nil
}

func (f *drainReactivate) recover(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := f.topo.switchyardCLI(ctx, "cluster", "activate", f.cur); err != nil {
		return "", err
	}
	if err := f.topo.waitFleetHealthy(ctx, 60*time.Second); err != nil {
		return "", err
	}
	return "switchyard cluster activate " + f.cur, nil
}

func (f *drainReactivate) excuse(*outcome) (string, bool) { return "", false }

// policyReload publishes a changed policy with `switchyard policy
// upload`. Nothing is excused.
type policyReload struct {
	topo *topology
	n    int
}

func (f *policyReload) name() string { return "policy reload" }

func (f *policyReload) rule() string { return "nothing is excused: a policy reload drops no query" }

func (f *policyReload) inject(ctx context.Context) (string, error) {
	f.n++
	dir := filepath.Join(f.topo.env.Dir, fmt.Sprintf("policies-%d", f.n))
	setting := fmt.Sprintf("%dm", 5+f.n)
	if err := copyPolicies(f.topo.env, dir, map[string]any{"agent_max_run_time": setting}); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	out, err := f.topo.switchyardCLI(ctx, "policy", "upload", "--dir", dir)
	if err != nil {
		return "", err
	}
	if !strings.Contains(out, "published") {
		return "", fmt.Errorf("policy upload did not publish: %s", out)
	}
	return fmt.Sprintf("switchyard policy upload (agent_max_run_time %s): %s", setting, firstLine(out)), nil
}

func (f *policyReload) recover(context.Context) (string, error) {
	return "nothing to undo (the new policy serves)", nil
}

func (f *policyReload) excuse(*outcome) (string, bool) { return "", false }

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// Compile-time checks that every fault implements the interface.
var _ = []fault{(*coordinatorKill)(nil), (*replicaKill)(nil), (*sentinelFailover)(nil), (*envoyKill)(nil),
	(*blueGreen)(nil), (*drainReactivate)(nil), (*policyReload)(nil)}

// cutShort reports whether a client's error is a response that began and
// then stopped (requests' ChunkedEncodingError, urllib3's IncompleteRead,
// OkHttp's unexpected end of stream), not a refused or failed connection.
func cutShort(msg string) bool {
	for _, s := range []string{"Response ended prematurely", "IncompleteRead", "unexpected end of stream"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

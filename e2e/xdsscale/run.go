package xdsscale

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/switchyard-gw/switchyard/e2e/bench"
	"github.com/switchyard-gw/switchyard/e2e/harness"
	"github.com/switchyard-gw/switchyard/pkg/config"
)

// adminToken is the run's operator token (only its hash is in the
// control plane's configuration).
const adminToken = "xdsbench-admin-token-0123456789abcdef"

// Runner runs a Plan in an Env.
type Runner struct {
	Env  *harness.Env
	Plan Plan
	Log  io.Writer
}

func (r *Runner) logf(format string, args ...any) {
	if r.Log != nil {
		fmt.Fprintf(r.Log, "%s xdsbench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	}
}

// Execute runs every point of the plan and returns the report. Every
// process it started is stopped when it returns, also on error.
func (r *Runner) Execute(ctx context.Context) (*Report, error) {
	if err := r.Plan.Validate(); err != nil {
		return nil, err
	}
	rep := &Report{Started: time.Now().UTC(), Plan: r.Plan, Machine: bench.ReadMachine(), Versions: r.versions(), LoadBefore: loadAvg()}
	for _, n := range r.Plan.Clusters {
		pts, err := r.fleet(ctx, n)
		for _, pt := range pts {
			if len(pt.Changes) > 0 {
				rep.Points = append(rep.Points, pt)
			}
		}
		if err != nil {
			rep.LoadAfter, rep.Took = loadAvg(), time.Since(rep.Started)
			return rep, fmt.Errorf("%d clusters: %w", n, err)
		}
	}
	rep.LoadAfter = loadAvg()
	rep.Took = time.Since(rep.Started)
	return rep, nil
}

// procs are the processes of one fleet, stopped newest first.
type procs []*harness.Proc

func (ps *procs) add(p *harness.Proc) { *ps = append(*ps, p) }

func (ps procs) stop() {
	var wg sync.WaitGroup
	for i := len(ps) - 1; i >= 0; i-- {
		if ps[i].Name == "switchyard" || ps[i].Name == "redis" {
			continue
		}
		wg.Go(ps[i].Stop) // the Envoys at once
	}
	wg.Wait()
	for i := len(ps) - 1; i >= 0; i-- {
		ps[i].Stop()
	}
}

// fleet measures every Envoy count against one control plane serving n
// clusters.
func (r *Runner) fleet(ctx context.Context, n int) (points []Point, err error) {
	var ps procs
	defer func() { ps.stop() }()
	redis, err := r.Env.StartRedis(ctx, "redis")
	if err != nil {
		return nil, err
	}
	ps.add(redis.Proc)
	cfg := fleetConfig(n, r.Plan, redis.Addr)
	r.logf("%d clusters: starting the control plane", n)
	cp, err := r.Env.StartSwitchyard(ctx, "switchyard", cfg)
	if cp != nil && cp.Proc != nil {
		ps.add(cp.Proc)
	}
	if err != nil {
		return nil, err
	}
	f := &fleetRun{r: r, cp: cp, n: n}
	for _, e := range r.Plan.Envoys {
		t0 := time.Now()
		if err := f.grow(ctx, e, &ps); err != nil {
			return points, fmt.Errorf("starting %d Envoys: %w", e, err)
		}
		pt, err := f.measure(ctx, time.Since(t0))
		points = append(points, pt)
		if err != nil {
			return points, fmt.Errorf("%d Envoys: %w", e, err)
		}
		r.logf("%d clusters × %d Envoys: all Envoys p50 %.0f ms max %.0f ms; per Envoy p50 %.0f ms; CP CPU %.2f s per change, RSS %.0f MiB (peak %.0f); Envoy RSS mean %.0f MiB",
			n, e, pt.AllP50(), pt.AllMax(), pt.EnvoyP50(), pt.CPUPerChange(), pt.CPRSSMiB, pt.CPRSSPeakMiB, pt.EnvoyRSSMeanMiB)
	}
	return points, nil
}

// clusterName is the i-th cluster of a generated fleet.
func clusterName(i int) string { return fmt.Sprintf("c%04d", i) }

// groupName is the g-th routing group.
func groupName(g int) string { return fmt.Sprintf("g%03d", g) }

// fleetConfig is the control plane's configuration for n clusters: perGroup
// clusters to a routing group, one coordinator each on a loopback address
// nobody listens on (its health checks fail at once, every interval: the
// state never changes), Redis as the store, an operator token, pprof.
func fleetConfig(n int, p Plan, redisAddr string) harness.GatewayConfig {
	cfg := harness.GatewayConfig{RedisAddr: redisAddr, LogLevel: "info", Pprof: true}
	for g := 0; g*p.PerGroup < n; g++ {
		cfg.Groups = append(cfg.Groups, groupName(g))
	}
	cfg.DefaultGroup = cfg.Groups[0]
	for i := range n {
		cfg.Clusters = append(cfg.Clusters, harness.ClusterSpec{
			Name: clusterName(i), Group: groupName(i / p.PerGroup),
			Coordinators: []harness.CoordinatorSpec{{Name: "0", URL: fmt.Sprintf("http://127.1.%d.%d:1", i/250, i%250+1)}},
		})
	}
	cfg.Extra = map[string]any{
		"health": map[string]any{"interval": p.HealthInterval.String(), "timeout": "1s", "fallThreshold": 1, "riseThreshold": 1},
		"admin":  map[string]any{"tokens": []map[string]any{{"name": "xdsbench", "tokenHash": config.HashToken(adminToken), "role": "operator"}}},
	}
	return cfg
}

// fleetRun is one control plane and the Envoys attached to it.
type fleetRun struct {
	r      *Runner
	cp     *harness.Switchyard
	n      int
	envoys []*envoy
	seq    int // state changes made so far
}

// grow starts Envoys until there are e, a batch at a time, each batch
// running a configuration before the next starts.
func (f *fleetRun) grow(ctx context.Context, e int, ps *procs) error {
	p := f.r.Plan
	for len(f.envoys) < e {
		var batch []*envoy
		for len(f.envoys) < e && len(batch) < p.StartBatch {
			if free, err := memAvailableMiB(); err != nil || free < p.MinFreeMiB {
				return fmt.Errorf("the machine has %.0f MiB available (%v), under %.0f: no more Envoys", free, err, p.MinFreeMiB)
			}
			en, err := startEnvoy(f.r.Env, fmt.Sprintf("envoy-%d-%02d", f.n, len(f.envoys)), f.cp.XDSAddr, p.SotW, p.ClusterStats)
			if err != nil {
				return err
			}
			ps.add(en.Proc)
			f.envoys = append(f.envoys, en)
			batch = append(batch, en)
		}
		if err := f.waitRunning(ctx, batch); err != nil {
			return err
		}
	}
	f.r.logf("%d clusters: %d Envoys run a configuration", f.n, len(f.envoys))
	return nil
}

// waitRunning waits until every Envoy of the list runs one version for
// every type.
func (f *fleetRun) waitRunning(ctx context.Context, list []*envoy) error {
	return harness.Poll(ctx, "Envoys to take their configuration", f.r.Plan.Deadline, 50*time.Millisecond, func() error {
		for _, en := range list {
			if en.Exited() {
				return harness.Permanent(fmt.Errorf("%s exited:\n%s", en.node, en.Tail(20)))
			}
			v, err := en.versions(ctx)
			if err != nil {
				return err
			}
			if configKey(v) == "" {
				return fmt.Errorf("%s runs %v", en.node, v)
			}
		}
		return nil
	})
}

// steady waits until every Envoy runs the same version, the control plane
// counts them all current, and no snapshot was set for a while (a drain's
// bookkeeping settles); it returns that version.
func (f *fleetRun) steady(ctx context.Context) (string, error) {
	var version, published string
	var since time.Time
	err := harness.Poll(ctx, "a steady fleet", f.r.Plan.Deadline, 100*time.Millisecond, func() error {
		var err error
		if version, _, err = f.oneConfiguration(ctx, ""); err != nil {
			return err
		}
		m, err := f.envoysAPI(ctx)
		if err != nil {
			return err
		}
		if m.Current != len(f.envoys) || m.Behind != 0 {
			return fmt.Errorf("control plane counts %v current, %v behind", m.Current, m.Behind)
		}
		if m.Published != published {
			published, since = m.Published, time.Now()
		}
		if time.Since(since) < quietBefore {
			return fmt.Errorf("a snapshot was set %v ago", time.Since(since))
		}
		return nil
	})
	return version, err
}

// oneConfiguration reads every Envoy's versions once: nil error when all
// run one configuration other than not (its key, and the last Envoy's
// versions by type).
func (f *fleetRun) oneConfiguration(ctx context.Context, not string) (string, map[string]string, error) {
	key := ""
	var versions map[string]string
	for _, en := range f.envoys {
		v, err := en.versions(ctx)
		if err != nil {
			return "", nil, err
		}
		k := configKey(v)
		if k == "" || k == not || (key != "" && k != key) {
			return "", nil, fmt.Errorf("%s runs %v (another runs %q; not %q)", en.node, v, key, not)
		}
		key, versions = k, v
	}
	return key, versions, nil
}

// cpMetrics are the control plane's xDS figures.
type cpMetricsT struct{ current, behind, pushes float64 }

func (f *fleetRun) cpMetrics(ctx context.Context) (cpMetricsT, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+f.cp.AdminAddr+"/metrics", nil)
	if err != nil {
		return cpMetricsT{}, err
	}
	resp, err := adminClient.Do(req)
	if err != nil {
		return cpMetricsT{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return cpMetricsT{}, err
	}
	s := string(b)
	var m cpMetricsT
	var errs []error
	for _, x := range []struct {
		name string
		to   *float64
	}{
		{`switchyard_xds_envoys{state="current"}`, &m.current},
		{`switchyard_xds_envoys{state="behind"}`, &m.behind},
		{`switchyard_xds_pushes_total`, &m.pushes},
	} {
		v, err := metricValue(s, x.name)
		errs = append(errs, err)
		*x.to = v
	}
	return m, errors.Join(errs...)
}

// quietBefore is how long no snapshot was published before a change: the
// control plane publishes a lone change (none in the last second) at once
// and holds a change that follows another one back for a quiet 100 ms, so
// a change made sooner would measure that hold-off instead (an operator's
// drains are seconds apart).
const quietBefore = 1500 * time.Millisecond

// cpPoll is how often a change polls the control plane's count of
// current Envoys.
const cpPoll = 10 * time.Millisecond

// envoysT is GET /api/v1/envoys, in part.
type envoysT struct {
	Version   string `json:"version"`
	Published string `json:"published"`
	Current   int    `json:"current"`
	Behind    int    `json:"behind"`
}

// envoysAPI reads the control plane's view of its Envoys.
func (f *fleetRun) envoysAPI(ctx context.Context) (envoysT, error) {
	var v envoysT
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+f.cp.AdminAddr+"/api/v1/envoys", nil)
	if err != nil {
		return v, err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := adminClient.Do(req)
	if err != nil {
		return v, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return v, err
	}
	if resp.StatusCode != http.StatusOK {
		return v, fmt.Errorf("GET /api/v1/envoys: HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return v, json.Unmarshal(b, &v)
}

// measure times Plan.Changes state changes with the Envoys running now.
func (f *fleetRun) measure(ctx context.Context, started time.Duration) (Point, error) {
	pt := Point{Clusters: f.n, Envoys: len(f.envoys), StartSeconds: started.Seconds()}
	if v, err := f.envoys[0].stat(ctx, "cluster_manager.active_clusters"); err == nil {
		pt.EnvoyClusters = int(v)
	}
	var err error
	if pt.CPRSSMiB, err = rssMiB(f.cp.Pid()); err != nil {
		return pt, err
	}
	pt.CPRSSPeakMiB = pt.CPRSSMiB
	profiling := f.r.Plan.Profile && len(f.envoys) == slices.Max(f.r.Plan.Envoys) && f.n == slices.Max(f.r.Plan.Clusters)
	var prof *profile
	if profiling {
		prof = startProfile(f.cp.AdminAddr, f.r.Plan.Changes*5+10, filepath.Join(f.r.Env.Dir, fmt.Sprintf("cpu-%d-%d.pprof", f.n, len(f.envoys))))
	}
	for range f.r.Plan.Changes {
		v0, err := f.steady(ctx)
		if err != nil {
			return pt, err
		}
		c, err := f.change(ctx, v0)
		if err != nil {
			return pt, err
		}
		pt.Changes = append(pt.Changes, c)
		pt.CPRSSPeakMiB = max(pt.CPRSSPeakMiB, c.RSSPeakMiB)
	}
	if prof != nil {
		if err := prof.stop(); err != nil {
			f.r.logf("profile: %v", err)
		} else {
			f.r.logf("CPU profile of the control plane: %s", prof.path)
			pt.Profile = prof.path
		}
	}
	var sum float64
	for _, en := range f.envoys {
		m, err := rssMiB(en.Pid())
		if err != nil {
			return pt, err
		}
		sum += m
		pt.EnvoyRSSMaxMiB = max(pt.EnvoyRSSMaxMiB, m)
	}
	pt.EnvoyRSSMeanMiB = sum / float64(len(f.envoys))
	return pt, nil
}

// change drains (even steps) or activates (odd steps) a cluster through the
// admin API and times each Envoy from the call to running the new
// configuration: every Envoy is polled until all run one new configuration
// and the control plane counts them current (from their ACKs); then each
// Envoy's own record of when it applied each changed type (update_time)
// gives its time, whatever the polling interval.
func (f *fleetRun) change(ctx context.Context, v0 string) (Change, error) {
	p := f.r.Plan
	k := (f.seq / 2 * p.PerGroup) % f.n
	k += (f.seq / 2 * p.PerGroup / f.n) % min(p.PerGroup, f.n) // another cluster of the group once every group had one
	action := "drain"
	if f.seq%2 == 1 {
		action = "activate"
	}
	f.seq++
	c := Change{Action: action, Cluster: clusterName(k % f.n)}
	before, err := f.cpMetrics(ctx)
	if err != nil {
		return c, err
	}
	ctx, cancel := context.WithTimeout(ctx, p.Deadline)
	defer cancel()

	cp0, err := f.envoysAPI(ctx)
	if err != nil {
		return c, err
	}
	cpu0, err := cpuSeconds(f.cp.Pid())
	if err != nil {
		return c, err
	}
	t0 := time.Now()
	status, err := f.adminPost(ctx, "/api/v1/clusters/"+c.Cluster+"/"+action)
	c.CallMS = ms(time.Since(t0))
	if err != nil {
		return c, err
	}
	if status/100 != 2 {
		return c, fmt.Errorf("%s %s: HTTP %d", action, c.Cluster, status)
	}
	// The control plane's own count, from the Envoys' ACKs, says when
	// every Envoy runs a new configuration (GET /api/v1/envoys, a cheap
	// read). The Envoys are not read until then: a read of an Envoy's
	// stats costs its main thread some 10 ms, and polling 50 of them
	// would take the CPU the change needs (runs before 2026-12-05 did,
	// two reads at a time, which kept both cores busy). Their times come
	// from their own update_time anyway.
	tick := time.NewTicker(cpPoll)
	defer tick.Stop()
	for {
		if rss, err := rssMiB(f.cp.Pid()); err == nil {
			c.RSSPeakMiB = max(c.RSSPeakMiB, rss)
		}
		m, err := f.envoysAPI(ctx)
		if err == nil && m.Version != cp0.Version && m.Current == len(f.envoys) && m.Behind == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return c, fmt.Errorf("%s %s: the control plane did not count every Envoy current with a new configuration within %v (last: %+v, %v)", action, c.Cluster, p.Deadline, m, err)
		case <-tick.C:
		}
	}
	cpu1, err := cpuSeconds(f.cp.Pid())
	if err != nil {
		return c, err
	}
	c.CPUSeconds = cpu1 - cpu0
	// Every Envoy runs one configuration, not the one before (what the
	// Envoys say themselves; read once each, again only while one still
	// says otherwise).
	var versions map[string]string
	err = harness.Poll(ctx, "every Envoy to run one new configuration", p.Deadline, p.Poll, func() error {
		var err error
		_, versions, err = f.oneConfiguration(ctx, v0)
		return err
	})
	if err != nil {
		return c, err
	}
	m, err := f.cpMetrics(ctx)
	if err != nil {
		return c, err
	}
	c.Pushes = int(m.pushes - before.pushes)
	// The types whose version changed, and when each Envoy applied them.
	old := strings.Split(v0, "/")
	now := versions
	var changed []string
	for i, k := range versionKeys {
		if now[k] != old[i] {
			changed = append(changed, k)
		}
	}
	c.Types = changed
	for _, en := range f.envoys {
		// Reading every gauge's name is slow on a loaded Envoy: a few
		// tries, bounded.
		var ut map[string]time.Time
		err := harness.Poll(ctx, en.node+" update times", p.Deadline, 100*time.Millisecond, func() error {
			var err error
			ut, err = en.updateTimes(ctx)
			return err
		})
		if err != nil {
			return c, err
		}
		var at time.Duration
		for _, k := range changed {
			t, ok := ut[k]
			if !ok {
				return c, fmt.Errorf("%s: no update_time for %s", en.node, k)
			}
			at = max(at, t.Sub(t0))
		}
		c.PerEnvoyMS = append(c.PerEnvoyMS, ms(at))
		c.AllMS = max(c.AllMS, ms(at))
	}
	return c, nil
}

// adminPost calls an operator endpoint of the control plane's admin API.
func (f *fleetRun) adminPost(ctx context.Context, path string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+f.cp.AdminAddr+path, bytes.NewReader(nil))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := adminClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("POST %s: HTTP %d: %s", path, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return resp.StatusCode, nil
}

// stat reads one counter or gauge of an Envoy.
func (e *envoy) stat(ctx context.Context, name string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+e.admin+"/stats?filter="+url.QueryEscape("^"+strings.ReplaceAll(name, ".", `\.`)+"$"), nil)
	if err != nil {
		return 0, err
	}
	resp, err := adminClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return 0, err
	}
	return metricValue(strings.ReplaceAll(string(b), ": ", " "), name)
}

// memAvailableMiB is the memory the machine has available.
func memAvailableMiB() (float64, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	return parseStatusKB(string(b), "MemAvailable")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

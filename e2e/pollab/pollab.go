// Package pollab is an A/B experiment on the latency a poll routed by
// path adds through Switchyard's Envoy (issue 17): it starts the stack of
// e2e/bench's switchyard-ungoverned target, turns the configuration Envoy
// received over xDS into a static bootstrap, and runs one Envoy per
// variant of it, each switching one feature off, interleaved with direct
// access, plain Envoy and the xDS-configured Envoy at the bench's fixed
// rate. It writes a Markdown report (cmd/pollab, `make pollab`).
package pollab

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/switchyard-gw/switchyard/e2e/bench"
	"github.com/switchyard-gw/switchyard/e2e/harness"
	"github.com/switchyard-gw/switchyard/e2e/loadgen"
)

// Plan is what an experiment does.
type Plan struct {
	Smoke   bool
	Repeats int
	// Trino, when set, puts a real single-node Trino where the simulator
	// is (TrinoPlan); Sim is then unused.
	Trino bool
	Sim   harness.SimOptions
	SQL   string
	// Rate (queries/s, open loop), Window and Warmup: the bench's
	// fixed-rate run, per target and repeat.
	Rate           float64
	Window, Warmup time.Duration
	// Warm is the open-loop run at Rate each target gets once before the
	// repeats (connections, first-use allocations).
	Warm time.Duration
	// Variants to run besides direct (all of Variants() by default).
	Variants []string
	// TimingRepeats is how many times the µs timing pass (plain Envoy and
	// TimingVariants, each with a file access log of Envoy's own
	// timestamps) alternates after the repeats; 0 skips it.
	TimingRepeats int
	// TimingVariants are timed beside plain Envoy (default: as-is).
	TimingVariants []string
	// Deadline bounds the whole experiment.
	Deadline time.Duration
}

// DefaultPlan is `make pollab`: the bench's load (simulator shape, SQL,
// fixed rate, window and warm-up) with 8 repeats.
func DefaultPlan() Plan {
	b := bench.DefaultPlan()
	return Plan{
		Repeats: 8, Sim: b.Sim, SQL: b.SQL,
		Rate: b.FixedRate, Window: b.Window, Warmup: b.Warmup,
		Warm: 3 * time.Second, Variants: VariantNames(),
		TimingRepeats: 3, Deadline: 35 * time.Minute,
	}
}

// TrinoPlan is DefaultPlan over a real single-node Trino: the bench's
// real-Trino statement at a rate the Trino on this machine serves without
// queueing (the bench's 4 closed-loop clients complete 20-26 queries/s),
// each target warmed for longer (Trino's JIT), 4 repeats, and time for
// every variant at those windows.
func TrinoPlan() Plan {
	b := bench.DefaultPlan()
	p := DefaultPlan()
	p.Trino, p.SQL = true, b.RealSQL
	p.Rate, p.Window, p.Warmup, p.Warm = 10, 20*time.Second, 2*time.Second, 20*time.Second
	p.Repeats, p.Deadline = 4, time.Hour
	return p
}

// SmokePlan runs everything briefly so the tool keeps working; its figures
// mean nothing.
func SmokePlan() Plan { return Smoke(DefaultPlan()) }

// Smoke is p run briefly (a real Trino still gets 10 s to warm each
// target: its first queries wait for the JIT).
func Smoke(p Plan) Plan {
	p.Smoke, p.Repeats = true, 2
	p.Window, p.Warmup, p.Warm = 1500*time.Millisecond, 300*time.Millisecond, time.Second
	if p.Trino {
		p.Warm = 10 * time.Second
	}
	p.TimingRepeats = 1
	p.Deadline = 10 * time.Minute
	return p
}

// Run is one measured fixed-rate run of one target.
type Run struct {
	Target  string           `json:"target"`
	Repeat  int              `json:"repeat"`
	Order   int              `json:"order"`
	Results *loadgen.Results `json:"results"`
}

// EnvoyTiming is what an Envoy's own statistics say about the polls.
type EnvoyTiming struct {
	Cluster string // the poll cluster's stat name
	// Histograms are Envoy's cumulative quantiles (ms, as Envoy records
	// them: whole milliseconds) of the poll cluster's upstream_rq_time and
	// the listener's downstream_rq_time, over every request it served.
	UpstreamP50, UpstreamP99     float64
	DownstreamP50, DownstreamP99 float64
	UpstreamCount                int64
	DownstreamCount              int64
}

// Timing is the µs timing pass of one target: medians over its polls
// (and, apart, its submissions) of Envoy's timestamps (access log
// %COMMON_DURATION%).
type Timing struct {
	Target string
	Polls  int
	// Medians, µs: the request from its first byte received to its first
	// byte sent upstream (Envoy's request path), from its last byte sent
	// upstream to the first byte of the answer (the upstream), from the
	// answer's first byte received to the last byte sent downstream
	// (Envoy's response path), and the whole (first byte in, last byte
	// out).
	RequestPath, Upstream, ResponsePath, Total float64
	// Submits and Submit are the same for the submissions (POST
	// /v1/statement): their request path holds the ext_proc decision.
	Submits int
	Submit  Durations
}

// Durations are the medians of a timing pass's four spans, µs.
type Durations struct {
	RequestPath, Upstream, ResponsePath, Total float64
}

// Report is everything an experiment measured.
type Report struct {
	Start, End time.Time
	Plan       Plan
	Machine    bench.Machine
	Commit     string
	Envoy      string
	Runs       []Run
	Envoys     map[string]EnvoyTiming
	Timings    []Timing
	// LoadStart and LoadEnd are /proc/loadavg at the start and the end.
	LoadStart, LoadEnd string
	// Notes are remarks for the report's conditions (e.g. what the warm
	// runs checked).
	Notes []string
}

// Runner executes a Plan.
type Runner struct {
	Env  *harness.Env
	Plan Plan
	Log  io.Writer
	// floorAddr is the floor processor's address, once started.
	floorAddr string
	// DumpPath, when set, receives the xDS Envoy's config_dump (the unit
	// test's fixture is a trimmed copy of one).
	DumpPath string
}

func (r *Runner) logf(format string, args ...any) {
	fmt.Fprintf(r.Log, "pollab: "+format+"\n", args...)
}

// target is one way to reach the simulator.
type target struct {
	name    string
	url     string
	envoy   *harness.Envoy
	stop    func()
	rewrite func(string) string
	// allPrefixed: every nextUri must carry the poll prefix.
	allPrefixed bool
	// clusters and hcm are the stat names of the clusters polls may go
	// to and of the listener's connection manager.
	clusters []string
	hcm      string
}

// Execute runs the plan; every process it started is stopped before it
// returns.
func (r *Runner) Execute(ctx context.Context) (*Report, error) {
	p := r.Plan
	ctx, cancel := context.WithTimeout(ctx, p.Deadline)
	defer cancel()
	defer r.Env.StopAll()
	rep := &Report{Start: time.Now(), Plan: p, Machine: bench.ReadMachine(), Commit: gitCommit(r.Env.Root), Envoys: map[string]EnvoyTiming{}}
	rep.Envoy = envoyVersion(r.Env)
	rep.LoadStart = loadAverage()

	r.logf("starting the backend (%s), Redis, the control plane and Envoy (xDS)", p.backendName())
	st, err := startStack(ctx, r.Env, p)
	if err != nil {
		return nil, err
	}
	dump, err := configDump(st.envoy)
	if err != nil {
		return nil, err
	}
	if r.DumpPath != "" {
		if err := os.WriteFile(r.DumpPath, dump, 0o644); err != nil {
			return nil, err
		}
	}
	base, err := StaticBootstrap(dump)
	if err != nil {
		return nil, err
	}
	targets := []*target{
		{name: NameDirect, url: st.backend},
		{name: NameXDS, url: "http://" + st.cp.ListenerAddr, envoy: st.envoy, clusters: []string{pollCluster(), coordCluster()}, hcm: "switchyard", allPrefixed: true},
	}
	pc, err := plainConfig(st.backend)
	if err != nil {
		return nil, err
	}
	plain, plainAddr, err := startStaticEnvoy(ctx, r.Env, "pollab-envoy-plain", pc, nil)
	if err != nil {
		return nil, err
	}
	targets = append(targets, &target{name: NamePlain, url: "http://" + plainAddr, envoy: plain, stop: plain.Stop, clusters: []string{"backend"}, hcm: "plain"})
	for _, name := range p.Variants {
		v, ok := variantByName(name)
		if !ok {
			return nil, fmt.Errorf("unknown variant %q", name)
		}
		t, err := r.startVariant(ctx, base, v, "")
		if err != nil {
			return nil, err
		}
		targets = append(targets, t)
	}
	for _, t := range targets {
		r.logf("warming %s", t.name)
		var seen uriCount
		inner := t.rewrite
		t.rewrite = seen.wrap(inner)
		// A query still running when the window ends is aborted; on a
		// machine this busy a short window can end before any query does,
		// so the warm run is repeated (at most 3 times) until one has.
		var res *loadgen.Results
		var err error
		for attempt := 0; attempt < 3 && (res == nil || res.Completed == 0); attempt++ {
			if res, err = r.load(ctx, t, p.Warm, 0); err != nil {
				break
			}
			if tooBad(res) {
				break
			}
		}
		t.rewrite = inner
		if err != nil {
			return nil, err
		}
		if tooBad(res) || res.Completed == 0 || res.Latency[loadgen.KindPoll].Count == 0 {
			return nil, fmt.Errorf("%s does not serve the load: %d completed, %d failed, %d aborted, %d dropped, errors %v", t.name, res.Completed, res.Failed, res.Aborted, res.Dropped, res.Errors)
		}
		all, pre := seen.all.Load(), seen.prefixed.Load()
		r.logf("%s: %d queries, %d of %d nextUris carry %s", t.name, res.Completed, pre, all, pollPrefix)
		// Where X-Forwarded-Prefix reaches the simulator on every request,
		// every nextUri must be prefixed: polls are then routed by path,
		// never through ext_proc and a store lookup.
		if t.allPrefixed && pre != all {
			return nil, fmt.Errorf("%s: only %d of %d nextUris carry %s: polls would not be routed by path", t.name, pre, all, pollPrefix)
		}
	}
	rep.Notes = append(rep.Notes, fmt.Sprintf("In every target's warm run at most 5%% of the queries failed or were dropped (a submission can fail when the starved control plane misses ext_proc's 1 s message timeout; queries still running when a window ends are aborted, as in every open-loop run, and not counted); for %s and every variant that keeps X-Forwarded-Prefix, every nextUri the client followed carried %s (polls routed by path, never through ext_proc).", NameXDS, pollPrefix))
	for rp := 1; rp <= p.Repeats; rp++ {
		for i, t := range rotate(targets, rp-1) {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			res, err := r.load(ctx, t, p.Window, p.Warmup)
			if err != nil {
				return nil, err
			}
			r.logf("repeat %d/%d: %-22s poll p50 %7.0f µs p99 %7.0f µs (%d polls, %d failed)", rp, p.Repeats, t.name,
				res.Latency[loadgen.KindPoll].P50, res.Latency[loadgen.KindPoll].P99, res.Latency[loadgen.KindPoll].Count, res.Failed)
			rep.Runs = append(rep.Runs, Run{Target: t.name, Repeat: rp, Order: i, Results: res})
		}
	}
	for _, t := range targets {
		if t.envoy == nil {
			continue
		}
		et, err := envoyTiming(t.envoy, t.clusters, t.hcm)
		if err != nil {
			return nil, fmt.Errorf("%s stats: %w", t.name, err)
		}
		rep.Envoys[t.name] = et
	}
	// Only the xDS Envoy and the stack stay up for the timing pass.
	for _, t := range targets {
		if t.stop != nil {
			t.stop()
		}
	}
	if p.TimingRepeats > 0 {
		tm, err := r.timingPass(ctx, base, st.backend)
		if err != nil {
			return nil, err
		}
		rep.Timings = tm
	}
	rep.End = time.Now()
	rep.LoadEnd = loadAverage()
	return rep, nil
}

// startVariant starts an Envoy from the static bootstrap with the
// variant's change; accessLog, when set, adds a file access log of
// Envoy's timestamps there (the timing pass).
func (r *Runner) startVariant(ctx context.Context, base map[string]any, v Variant, accessLog string) (*target, error) {
	cfg, err := deepCopy(base)
	if err != nil {
		return nil, err
	}
	if err := v.Apply(cfg); err != nil {
		return nil, fmt.Errorf("variant %s: %w", v.Name, err)
	}
	if v.Floor {
		if r.floorAddr == "" {
			// It serves until the experiment's context ends.
			addr, err := startFloor(ctx)
			if err != nil {
				return nil, fmt.Errorf("floor processor: %w", err)
			}
			r.floorAddr = addr
		}
		if err := pointExtProcAt(cfg, r.floorAddr); err != nil {
			return nil, fmt.Errorf("variant %s: %w", v.Name, err)
		}
	}
	if accessLog != "" {
		if err := addTimingLog(cfg, accessLog); err != nil {
			return nil, err
		}
	}
	name := "pollab-envoy-" + v.Name
	if accessLog != "" {
		name += "-timing"
	}
	en, listen, err := startStaticEnvoy(ctx, r.Env, name, cfg, []string{coordCluster(), submitCluster()})
	if err != nil {
		return nil, fmt.Errorf("variant %s: %w", v.Name, err)
	}
	return &target{name: v.Name, url: "http://" + listen, envoy: en, stop: en.Stop, rewrite: v.Rewrite, clusters: []string{pollCluster(), coordCluster()}, hcm: "switchyard",
		allPrefixed: v.Name != "no-x-forwarded-prefix" && v.Name != NameAllOff}, nil
}

// load runs the bench's fixed-rate load against t.
func (r *Runner) load(ctx context.Context, t *target, window, warmup time.Duration) (*loadgen.Results, error) {
	cfg := loadgen.Config{URL: t.url, SQL: r.Plan.SQL, Rate: r.Plan.Rate, Duration: window, Warmup: warmup, RewriteNextURI: t.rewrite}
	res, err := loadgen.Run(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.name, err)
	}
	return res, nil
}

// rotate is e2e/bench's order: shifted by k, and reversed every other
// repeat, so no target always follows another.
func rotate[T any](s []T, k int) []T {
	out := make([]T, len(s))
	for i := range s {
		out[i] = s[(i+k)%len(s)]
	}
	if k%2 == 1 {
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out
}

func deepCopy(m map[string]any) (map[string]any, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	return out, json.Unmarshal(b, &out)
}

// tooBad: more than 5% of a warm run's queries failed or were dropped.
func tooBad(res *loadgen.Results) bool {
	return float64(res.Failed+res.Dropped) > 0.05*float64(max(res.Queries, 1))
}

// uriCount counts the nextUris a load follows, and those with the poll
// prefix.
type uriCount struct{ all, prefixed atomic.Int64 }

func (c *uriCount) wrap(f func(string) string) func(string) string {
	return func(next string) string {
		c.all.Add(1)
		if u, err := url.Parse(next); err == nil && strings.HasPrefix(u.Path, pollPrefix+"/") {
			c.prefixed.Add(1)
		}
		if f != nil {
			return f(next)
		}
		return next
	}
}

// ensurePrefix puts the poll prefix back into a nextUri that lacks it.
func ensurePrefix(next string) string {
	u, err := url.Parse(next)
	if err != nil || strings.HasPrefix(u.Path, pollPrefix+"/") {
		return next
	}
	u.Path = pollPrefix + u.Path
	return u.String()
}

// stripPrefix takes the poll prefix out of a nextUri.
func stripPrefix(next string) string {
	u, err := url.Parse(next)
	if err != nil || !strings.HasPrefix(u.Path, pollPrefix+"/") {
		return next
	}
	u.Path = strings.TrimPrefix(u.Path, pollPrefix)
	return u.String()
}

func gitCommit(root string) string {
	out, err := runCmd(root, "git", "rev-parse", "--short", "HEAD")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(out)
}

func envoyVersion(env *harness.Env) string {
	out, err := runCmd(env.Root, env.EnvoyPath(), "--version")
	if err != nil {
		return "unknown"
	}
	// "... version: <sha>/1.40.0/Clean/RELEASE/BoringSSL"
	if _, v, ok := strings.Cut(out, "version: "); ok {
		if f := strings.Split(strings.TrimSpace(v), "/"); len(f) > 1 {
			return f[1]
		}
	}
	return strings.TrimSpace(out)
}

// backendName is what stands behind the proxies.
func (p Plan) backendName() string {
	if p.Trino {
		return "Trino"
	}
	return "the simulator"
}

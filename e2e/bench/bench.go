// Package bench measures Switchyard side by side with direct access, plain
// Envoy and Trino Gateway, on the same backend and the same load, in one
// run (`make bench`, and a smoke run in `make test`). It writes
// docs/benchmarks.md and a latency plot.
package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/switchyard-gw/switchyard/e2e/harness"
	"github.com/switchyard-gw/switchyard/e2e/loadgen"
)

// Plan is what a benchmark run does.
type Plan struct {
	Smoke   bool
	Repeats int
	Targets []string
	Sim     harness.SimOptions
	SQL     string
	// Warm is how every target is warmed before the repeats (JIT, pools):
	// closed loop at Saturation until its latency is steady.
	Warm Steadiness
	// FixedRate (queries/s, open loop) gives the added-latency columns: a
	// load every target sustains, so queueing does not hide the overhead.
	FixedRate float64
	// Saturation is the closed-loop concurrency for queries/s at
	// saturation, CPU per query and peak memory.
	Saturation int
	// Rates are the open-loop rates of the latency-against-load curve;
	// a target's curve stops after its first saturated rate.
	Rates []float64
	// P99Bound defines "throughput at equal p99": the highest curve rate a
	// target sustains with query p99 at or under it.
	P99Bound       time.Duration
	Window, Warmup time.Duration
	// RealTrino repeats the comparison against a real Trino server.
	RealTrino       bool
	RealConcurrency int
	RealWindow      time.Duration
	RealWarm        Steadiness // how each target (and Trino behind it) is warmed before the first repeat
	RealSQL         string
	// Scale runs Switchyard with this many clusters each, with
	// StickyEntries live query-ID entries in Redis.
	Scale         []int
	StickyEntries int
	// Profile takes a CPU profile of the control plane during its first
	// saturation run.
	Profile bool
	// Micro runs the Go benchmarks of the routing decision.
	Micro bool
	// RealOnly skips the simulator's runs and the scale runs: only the
	// real-Trino comparison (and Micro) run.
	RealOnly bool
}

// DefaultPlan is `make bench`.
func DefaultPlan() Plan {
	return Plan{
		Repeats: 3, Targets: AllTargets,
		Sim:       harness.SimOptions{Pages: 3, Rows: 100, Columns: 4},
		SQL:       "SELECT * FROM tpch.tiny.lineitem",
		Warm:      Steadiness{Window: 5 * time.Second, Max: 90 * time.Second, P50Tolerance: 0.15, P99Tolerance: 0.25, MinQueries: 20},
		FixedRate: 100, Saturation: 32,
		Rates:    []float64{50, 100, 200, 400, 800, 1200, 1600, 2400, 3200},
		P99Bound: 50 * time.Millisecond,
		Window:   6 * time.Second, Warmup: time.Second,
		RealTrino: true, RealConcurrency: 4, RealWindow: 10 * time.Second,
		RealWarm: Steadiness{Window: 5 * time.Second, Max: 60 * time.Second, P50Tolerance: 0.15, P99Tolerance: 0.25, MinQueries: 20},
		RealSQL:  "SELECT count(*) FROM tpch.tiny.nation",
		Scale:    []int{1, 10, 100}, StickyEntries: 10000,
		Profile: true, Micro: true,
	}
}

// SmokePlan runs every target briefly so the harness keeps working; its
// figures mean nothing.
func SmokePlan() Plan {
	p := DefaultPlan()
	p.Smoke, p.Repeats = true, 1
	p.Warm.Window, p.Warm.Max, p.Warm.MinQueries = 500*time.Millisecond, 1500*time.Millisecond, 5
	p.Rates = []float64{50}
	p.Window, p.Warmup = 2*time.Second, 300*time.Millisecond
	p.Saturation = 4
	p.RealTrino = false
	p.Scale, p.StickyEntries = []int{2}, 100
	p.Profile, p.Micro = false, false
	return p
}

// Run is one measured load run.
type Run struct {
	Target      string           `json:"target"`
	Phase       string           `json:"phase"` // fixed, saturation, curve, real, scale, scale-unprefixed
	Repeat      int              `json:"repeat"`
	Rate        float64          `json:"rate,omitempty"`
	Concurrency int              `json:"concurrency,omitempty"`
	Clusters    int              `json:"clusters,omitempty"`
	Results     *loadgen.Results `json:"results"`
	// RedisPerQuery is the Redis round trips of a Switchyard control plane
	// (switchyard_store_round_trips_total) per query of the run, its
	// warm-up included; background work (lease renewal, the governance
	// tick, health state) counts too. Fixed-rate runs only.
	RedisPerQuery float64 `json:"redis_per_query,omitempty"`
	// RedisRoundTrip is the median PING round trip to the target's Redis
	// from the bench process right after the run (µs), in fixed-rate runs.
	RedisRoundTrip float64 `json:"redis_round_trip_us,omitempty"`
	// DecisionMean is the control plane's mean ext_proc decision time of a
	// submission (switchyard_extproc_decision_seconds{kind="submit"}, µs)
	// and AdmitMean its mean governance Admit call, one Redis script
	// (switchyard_governance_store_seconds{op="admit"}; NaN when
	// ungoverned), over fixed-rate runs.
	DecisionMean float64 `json:"decision_mean_us,omitempty"`
	AdmitMean    float64 `json:"admit_mean_us,omitempty"`
	// StageMeans is the mean time of each admission stage of a submission
	// (switchyard_admission_stage_seconds{stage}, µs) over fixed-rate runs.
	StageMeans map[string]float64 `json:"stage_means_us,omitempty"`
}

// Report is everything a benchmark run measured.
type Report struct {
	Start, End time.Time
	Plan       Plan
	Machine    Machine
	Versions   map[string]string
	Runs       []Run
	Profile    string // top of the control plane's CPU profile
	// Warmups is how every target was warmed, per phase.
	Warmups []Warmup
	Micro   string // go test -bench output of the decision benchmarks
}

// Runner executes a Plan.
type Runner struct {
	Env  *harness.Env
	Plan Plan
	Log  io.Writer
}

func (r *Runner) logf(format string, args ...any) {
	fmt.Fprintf(r.Log, "bench: "+format+"\n", args...)
}

// Execute runs the plan and returns the report; processes it started are
// stopped before it returns.
func (r *Runner) Execute(ctx context.Context) (*Report, error) {
	p := r.Plan
	rep := &Report{Start: time.Now(), Plan: p, Machine: ReadMachine(), Versions: r.versions()}
	defer r.Env.StopAll()

	if !p.RealOnly {
		runs, err := r.simulated(ctx, rep)
		if err != nil {
			return nil, err
		}
		rep.Runs = append(rep.Runs, runs...)
	}
	if p.RealTrino {
		real, err := r.real(ctx, rep)
		if err != nil {
			return nil, err
		}
		rep.Runs = append(rep.Runs, real...)
	}
	if p.Micro {
		rep.Micro = r.micro(ctx)
	}
	rep.End = time.Now()
	return rep, nil
}

// simulated runs every target against the simulator (warm-up, then the
// repeats), then the scale runs.
func (r *Runner) simulated(ctx context.Context, rep *Report) ([]Run, error) {
	p := r.Plan
	var out []Run
	// The simulator posts a completion event per query, as Trino's HTTP
	// event listener does: the shipped policy governs the switchyard
	// target's queries, and a running slot is freed by the event.
	simOpts := p.Sim
	simOpts.Events = true
	sim, err := r.Env.StartSim(ctx, "bench-sim", simOpts)
	if err != nil {
		return nil, err
	}
	targets := map[string]*target{}
	for _, name := range p.Targets {
		r.logf("starting %s", name)
		t, err := startTarget(ctx, r.Env, "sim", name, sim.URL, 1)
		if err != nil {
			return nil, err
		}
		targets[name] = t
	}
	for _, name := range p.Targets {
		t := targets[name]
		w, err := r.warm(ctx, "simulator", name, p.Warm, func(ctx context.Context, d time.Duration) (*loadgen.Results, error) {
			return r.load(ctx, t, loadgen.Config{Concurrency: p.Saturation, Duration: d})
		})
		if err != nil {
			return nil, err
		}
		rep.Warmups = append(rep.Warmups, w)
	}
	for rep_ := 1; rep_ <= p.Repeats; rep_++ {
		for _, name := range rotate(p.Targets, rep_-1) {
			runs, err := r.measureTarget(ctx, targets[name], rep_, rep_ == 1 && p.Profile, rep)
			if err != nil {
				return nil, err
			}
			out = append(out, runs...)
		}
	}
	for _, t := range targets {
		t.stop()
	}
	scale, err := r.scale(ctx, sim.URL)
	if err != nil {
		return nil, err
	}
	sim.Stop()
	return append(out, scale...), nil
}

// measureTarget is one repeat of one target: the fixed-rate run, the
// saturation run and the curve.
func (r *Runner) measureTarget(ctx context.Context, t *target, repeat int, profile bool, rep *Report) ([]Run, error) {
	p := r.Plan
	var out []Run
	r.logf("repeat %d: %s at %.0f queries/s", repeat, t.name, p.FixedRate)
	var before map[string]float64
	if t.admin != "" {
		var err error
		if before, err = scrape(ctx, t.admin); err != nil {
			return nil, err
		}
	}
	res, err := r.load(ctx, t, loadgen.Config{Rate: p.FixedRate, Duration: p.Window, Warmup: p.Warmup})
	if err != nil {
		return nil, err
	}
	fixed := Run{Target: t.name, Phase: "fixed", Repeat: repeat, Rate: p.FixedRate, Results: res}
	if t.admin != "" {
		after, err := scrape(ctx, t.admin)
		if err != nil {
			return nil, err
		}
		if _, ok := after[seriesRoundTrips]; !ok {
			return nil, fmt.Errorf("%s: /metrics has no %s", t.name, seriesRoundTrips)
		}
		if n := res.Queries + res.WarmupQueries; n > 0 {
			fixed.RedisPerQuery = (after[seriesRoundTrips] - before[seriesRoundTrips]) / float64(n)
		}
		fixed.DecisionMean = meanDelta(before, after, seriesDecisionSum, seriesDecisionCount)
		fixed.AdmitMean = meanDelta(before, after, seriesAdmitSum, seriesAdmitCount)
		fixed.StageMeans = map[string]float64{}
		for _, st := range admissionStages {
			sum, count := fmt.Sprintf(`switchyard_admission_stage_seconds_sum{stage=%q}`, st), fmt.Sprintf(`switchyard_admission_stage_seconds_count{stage=%q}`, st)
			if m := meanDelta(before, after, sum, count); m > 0 {
				fixed.StageMeans[st] = m
			}
		}
		if fixed.RedisRoundTrip, err = redisRoundTrip(ctx, t.redis, 500); err != nil {
			return nil, err
		}
	}
	out = append(out, fixed)

	r.logf("repeat %d: %s saturated with %d clients", repeat, t.name, p.Saturation)
	var prof chan string
	if profile && t.name == Switchyard {
		prof = make(chan string, 1)
		go func() { prof <- r.profile(ctx, t.admin, p.Warmup+p.Window-500*time.Millisecond) }()
	}
	res, err = r.load(ctx, t, loadgen.Config{Concurrency: p.Saturation, Duration: p.Window, Warmup: p.Warmup})
	if err != nil {
		return nil, err
	}
	if prof != nil {
		rep.Profile = <-prof
	}
	out = append(out, Run{Target: t.name, Phase: "saturation", Repeat: repeat, Concurrency: p.Saturation, Results: res})

	for _, rate := range p.Rates {
		res, err := r.load(ctx, t, loadgen.Config{Rate: rate, Duration: p.Window, Warmup: p.Warmup, MaxInFlight: 4 * p.Saturation})
		if err != nil {
			return nil, err
		}
		out = append(out, Run{Target: t.name, Phase: "curve", Repeat: repeat, Rate: rate, Results: res})
		if saturated(res, rate) {
			break
		}
	}
	return out, nil
}

// saturated: the target no longer keeps up with the offered rate.
func saturated(res *loadgen.Results, rate float64) bool {
	bad := res.Failed + res.Dropped + res.Aborted
	return res.QueriesPerSecond < 0.9*rate || float64(bad) > 0.01*float64(res.Queries) ||
		res.Latency[loadgen.KindQuery].P99 > 2e6 // 2 s in µs
}

func (r *Runner) load(ctx context.Context, t *target, cfg loadgen.Config) (*loadgen.Results, error) {
	cfg = t.client(cfg)
	cfg.SQL = r.Plan.SQL
	if err := r.routeEvents(t); err != nil {
		return nil, err
	}
	cfg.PIDs = t.pids()
	res, err := loadgen.Run(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.name, err)
	}
	return res, nil
}

// routeEvents lets the backend's completion events reach the control
// plane only while t is the switchyard target: the queries of the other
// targets are none of its business, and ingesting them would take CPU
// from the target being measured.
func (r *Runner) routeEvents(t *target) error {
	relay, err := r.Env.Events()
	if err != nil {
		return err
	}
	relay.SetDrop(t.name != Switchyard)
	return nil
}

// profile fetches a CPU profile of the control plane and returns the top
// of `go tool pprof -top`.
func (r *Runner) profile(ctx context.Context, admin string, d time.Duration) string {
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", admin, max(1, int(d.Seconds())))
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "profile failed: " + err.Error()
	}
	defer resp.Body.Close()
	path := filepath.Join(r.Env.Dir, "switchyard.cpu.pprof")
	f, err := os.Create(path)
	if err != nil {
		return err.Error()
	}
	_, err = io.Copy(f, resp.Body)
	f.Close()
	if err != nil {
		return err.Error()
	}
	return pprofTop(ctx, r.Env, path)
}

func rotate(s []string, k int) []string {
	out := make([]string, len(s))
	for i := range s {
		out[i] = s[(i+k)%len(s)]
	}
	if k%2 == 1 { // alternate direction too, so no target always follows another
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out
}

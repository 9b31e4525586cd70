package xdsscale

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/switchyard-gw/switchyard/e2e/bench"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard-gw/switchyard/e2e/harness"
)

// Report is the outcome of a run.
type Report struct {
	Started    time.Time         `json:"started"`
	Took       time.Duration     `json:"took"`
	Plan       Plan              `json:"plan"`
	Machine    Machine           `json:"machine"`
	Versions   map[string]string `json:"versions"`
	LoadBefore string            `json:"load_before"` // /proc/loadavg's 1, 5 and 15 minute averages
	LoadAfter  string            `json:"load_after"`
	Points     []Point           `json:"points"`
	Failure    string            `json:"failure,omitempty"` // why the run stopped early
}

// Point is one control plane with n clusters and e Envoys.
type Point struct {
	Clusters      int `json:"clusters"`
	Envoys        int `json:"envoys"`
	EnvoyClusters int `json:"envoy_clusters"` // cluster_manager.active_clusters of an Envoy
	// StartSeconds is how long the Envoys added for this point took to
	// start and run their first configuration.
	StartSeconds    float64  `json:"start_seconds"`
	Changes         []Change `json:"changes"`
	CPRSSMiB        float64  `json:"cp_rss_mib"`      // before the changes
	CPRSSPeakMiB    float64  `json:"cp_rss_peak_mib"` // sampled during them
	EnvoyRSSMeanMiB float64  `json:"envoy_rss_mean_mib"`
	EnvoyRSSMaxMiB  float64  `json:"envoy_rss_max_mib"`
	Profile         string   `json:"profile,omitempty"`
}

// Change is one timed state change.
type Change struct {
	Action  string `json:"action"` // drain or activate
	Cluster string `json:"cluster"`
	// CallMS is the admin call's own time; PerEnvoyMS each Envoy's time
	// from the call to running the new version; AllMS the last one's.
	CallMS     float64   `json:"call_ms"`
	PerEnvoyMS []float64 `json:"per_envoy_ms"`
	AllMS      float64   `json:"all_ms"`
	// CPUSeconds is the control plane's CPU from the call until every
	// Envoy ran the new version; RSSPeakMiB its largest RSS meanwhile.
	CPUSeconds float64 `json:"cpu_seconds"`
	RSSPeakMiB float64 `json:"rss_peak_mib"`
	// Pushes counts snapshots the control plane set (a drain's
	// bookkeeping sets the same content again); Types are the resource
	// types whose version changed.
	Pushes int      `json:"pushes"`
	Types  []string `json:"types"`
}

// AllP50 is the median over the changes of the time until the last Envoy ran the change.
func (p Point) AllP50() float64 { return quantile(p.alls(), 0.5) }

// AllMax is the largest time until the last Envoy ran a change.
func (p Point) AllMax() float64 { return slices.Max(append(p.alls(), 0)) }

// EnvoyP50 is the median over every Envoy and change.
func (p Point) EnvoyP50() float64 {
	var all []float64
	for _, c := range p.Changes {
		all = append(all, c.PerEnvoyMS...)
	}
	return quantile(all, 0.5)
}

// CPUPerChange is the control plane's mean CPU seconds per change.
func (p Point) CPUPerChange() float64 {
	if len(p.Changes) == 0 {
		return 0
	}
	var s float64
	for _, c := range p.Changes {
		s += c.CPUSeconds
	}
	return s / float64(len(p.Changes))
}

// CallP50 is the median time of the admin calls.
func (p Point) CallP50() float64 {
	var xs []float64
	for _, c := range p.Changes {
		xs = append(xs, c.CallMS)
	}
	return quantile(xs, 0.5)
}

func (p Point) alls() []float64 {
	var xs []float64
	for _, c := range p.Changes {
		xs = append(xs, c.AllMS)
	}
	return xs
}

// quantile of xs (nearest rank; 0 for none).
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	i := int(q*float64(len(s))+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

// Machine describes where the run happened (the bench's description).
type Machine = bench.Machine

var envoyVersion = regexp.MustCompile(`version: [0-9a-f]+/([0-9.]+)/`)

func (r *Runner) versions() map[string]string {
	run := func(name string, args ...string) string {
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			return "unknown"
		}
		return strings.TrimSpace(string(out))
	}
	v := map[string]string{"Go": runtime.Version(), "Envoy": "unknown", "Redis": "unknown"}
	if m := envoyVersion.FindStringSubmatch(run(r.Env.EnvoyPath(), "--version")); m != nil {
		v["Envoy"] = m[1]
	}
	if f := strings.Fields(run("redis-server", "--version")); len(f) > 2 {
		v["Redis"] = strings.TrimPrefix(f[2], "v=")
	}
	commit := run("git", "-C", r.Env.Root, "rev-parse", "--short", "HEAD")
	if commit == "unknown" && os.Getenv("XDSBENCH_COMMIT") != "" {
		commit = os.Getenv("XDSBENCH_COMMIT") // a tree outside git: what it was made from
	} else if run("git", "-C", r.Env.Root, "status", "--porcelain") != "" {
		commit += " (with uncommitted changes)"
	}
	v["Switchyard"] = commit
	return v
}

// metricValue reads one sample of Prometheus's text format (`name value`
// lines; name with its labels as written).
func metricValue(text, name string) (float64, error) {
	for line := range strings.Lines(text) {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || !strings.HasPrefix(rest, " ") {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			break
		}
		return strconv.ParseFloat(f[0], 64)
	}
	return 0, fmt.Errorf("no sample %s", name)
}

// typeName is CDS, LDS or RDS for a key of versionKeys.
func typeName(key string) string {
	return map[string]string{versionKeys[0]: "CDS", versionKeys[1]: "LDS", versionKeys[2]: "RDS"}[key]
}

// Goal is issue 17's: a change reaches every Envoy within a second.
const Goal = time.Second

// Markdown renders the report as a section of docs/benchmarks-xds.md.
func (rep *Report) Markdown(plotFile string) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# Benchmarks: configuration pushes to a fleet of Envoys\n\n")
	w("Generated by `make bench-xds` (`cmd/xdsbench`) on %s (run took %s).\n\n", rep.Started.Format("2006-01-02 15:04 UTC"), rep.Took.Round(time.Second))
	w("## Machine, versions and conditions\n\n")
	m := rep.Machine
	w("- CPU: %s, %d cores; memory %s; kernel %s\n", m.CPU, m.Cores, m.Memory, m.Kernel)
	var vs []string
	for _, k := range slices.Sorted(mapKeys(rep.Versions)) {
		vs = append(vs, k+" "+rep.Versions[k])
	}
	w("- %s\n", strings.Join(vs, "; "))
	w("- Load average (1, 5, 15 min) before the run: %s; after: %s. The machine is shared with other work: absolute numbers include that contention.\n", rep.LoadBefore, rep.LoadAfter)
	p := rep.Plan
	api := "incremental (ADS, `api_type: DELTA_GRPC`, the shipped bootstrap)"
	if p.SotW {
		api = "state of the world (ADS, `api_type: GRPC`)"
	}
	stats := "without the statistics of the Trino clusters (a `stats_matcher` excludes `cluster.trino_*`, to fit 50 Envoys of 1,000 clusters in memory)"
	if p.ClusterStats {
		stats = "with every statistic"
	}
	w("- Everything on this machine as processes: Redis (the store), one `switchyard serve` and the Envoys, each Envoy with `--concurrency 1` and its admin interface on loopback, its bootstrap from `switchyard bootstrap`, %s; xDS: %s.\n", stats, api)
	w("- The fleet: N clusters, %d to a routing group (the round-robin strategy), one coordinator each on a loopback address nobody listens on; health checks (the control plane's and Envoy's) every %s fail at once, so the state never changes by itself. Each Trino cluster is 4 Envoy clusters (submission, coordinator, the coordinator's polls for resubmission, failover aggregate of its group) and 2 endpoint sets.\n", p.PerGroup, p.HealthInterval)
	w("- A change is `POST /api/v1/clusters/{name}/drain` or `/activate` with an operator token, alternately, %d per point, each after the fleet is steady (every Envoy runs one version, the control plane counts them all current, no snapshot set for %s). The control plane publishes a lone change (none in the last second) at once, and one that follows another after a quiet 100 ms (its debouncer); a change that gives the same configuration is not published.\n", p.Changes, quietBefore)
	w("- Propagation is measured at the Envoys, read only once the change is through: the control plane's `GET /api/v1/envoys` is polled every %s until it counts every Envoy current with a new configuration (from their ACKs, which Envoy sends once it applied it); then each Envoy's admin `/stats?type=TextReadouts` is read once (again only while one still runs another configuration) for the versions of CDS, LDS and RDS (`cluster_manager.cds.version_text`, ...; each type has its own version), and each Envoy's own record of when it applied each type that changed (`cluster_manager.cds.update_time`, ..., milliseconds) minus the time of the admin call is its time. No Envoy is read during the change: a read costs an Envoy with 1,000 clusters about 10 ms of its main thread, and runs before 2026-12-05 13:50 UTC, which polled every Envoy every %s (two reads at a time) during the change, kept both cores busy with those reads. *All Envoys* is the time to the last Envoy; *per Envoy* pools every Envoy of every change.\n", cpPoll, p.Poll)
	w("- Control-plane CPU is utime+stime from /proc/<pid>/stat from the call until the last Envoy runs the change (10 ms resolution); RSS is VmRSS before the changes and its peak sampled every poll; Envoy RSS after the changes.\n\n")

	w("## Results\n\n")
	w("| clusters | Envoy clusters | Envoys | all Envoys p50 / max (ms) | per Envoy p50 (ms) | admin call p50 (ms) | control-plane CPU per change (s) | control-plane RSS before / peak (MiB) | Envoy RSS mean / max (MiB) | types sent |\n")
	w("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, pt := range rep.Points {
		types := map[string]bool{}
		for _, c := range pt.Changes {
			for _, t := range c.Types {
				types[typeName(t)] = true
			}
		}
		vl := slices.Sorted(mapKeys(types))
		w("| %d | %d | %d | %.0f / %.0f | %.0f | %.1f | %.2f | %.0f / %.0f | %.0f / %.0f | %s |\n",
			pt.Clusters, pt.EnvoyClusters, pt.Envoys, pt.AllP50(), pt.AllMax(), pt.EnvoyP50(), pt.CallP50(), pt.CPUPerChange(),
			pt.CPRSSMiB, pt.CPRSSPeakMiB, pt.EnvoyRSSMeanMiB, pt.EnvoyRSSMaxMiB, strings.Join(vl, ", "))
	}
	w("\n")
	if plotFile != "" {
		w("![propagation against the number of Envoys](%s)\n\n", plotFile)
	}
	if rep.Failure != "" {
		w("**The run stopped early**: %s\n\n", rep.Failure)
	}
	if g := rep.goal(); g != "" {
		w("%s\n\n", g)
	}
	return b.String()
}

// goal says whether the largest point met the goal.
func (rep *Report) goal() string {
	var big *Point
	for i := range rep.Points {
		pt := &rep.Points[i]
		if big == nil || pt.Clusters > big.Clusters || (pt.Clusters == big.Clusters && pt.Envoys > big.Envoys) {
			big = pt
		}
	}
	if big == nil || len(big.Changes) == 0 {
		return ""
	}
	met := "met"
	if big.AllP50() >= ms(Goal) || big.AllMax() >= ms(Goal) {
		met = "**not met**"
	}
	return fmt.Sprintf("Goal (issue 17): a change reaches every Envoy within %v, p50 and max, at %d clusters and %d Envoys: p50 %.0f ms, max %.0f ms: %s.",
		Goal, big.Clusters, big.Envoys, big.AllP50(), big.AllMax(), met)
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// Write saves the raw results as JSON, draws the plot with matplotlib
// (plot.py, `deploy/setup.sh bench` installs it) and writes the Markdown.
func Write(ctx context.Context, env *harness.Env, rep *Report, mdPath, plotPath, jsonPath string) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(jsonPath, b, 0o644); err != nil {
		return err
	}
	rel := ""
	if plotPath != "" {
		cmd := exec.CommandContext(ctx, env.PythonPath(), filepath.Join(env.Root, "e2e", "xdsscale", "plot.py"), jsonPath, plotPath)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("plotting (run `deploy/setup.sh bench` for matplotlib): %v\n%s", err, out)
		}
		md, err := filepath.Abs(mdPath)
		if err != nil {
			return err
		}
		plot, err := filepath.Abs(plotPath)
		if err != nil {
			return err
		}
		if rel, err = filepath.Rel(filepath.Dir(md), plot); err != nil {
			return err
		}
	}
	return os.WriteFile(mdPath, []byte(rep.Markdown(rel)), 0o644)
}

package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/switchyard-gw/switchyard/e2e/harness"
	"github.com/switchyard-gw/switchyard/e2e/loadgen"
	"github.com/switchyard-gw/switchyard/pkg/store"
)

// scale runs Switchyard with 1, 10, 100 clusters and a store holding
// StickyEntries live query-ID entries, with prefixed follow-ups (routed by
// path) and with the prefix removed (every poll a store lookup).
func (r *Runner) scale(ctx context.Context, backendURL string) ([]Run, error) {
	p := r.Plan
	var out []Run
	for _, n := range p.Scale {
		r.logf("scale: switchyard with %d clusters and %d sticky entries", n, p.StickyEntries)
		t, err := startTarget(ctx, r.Env, fmt.Sprintf("scale%d", n), Switchyard, backendURL, n)
		if err != nil {
			return nil, err
		}
		if err := prefill(ctx, t.redis, p.StickyEntries); err != nil {
			t.stop()
			return nil, err
		}
		for _, unprefixed := range []bool{false, true} {
			cfg := loadgen.Config{Concurrency: 8, Duration: p.Window, Warmup: p.Warmup}
			phase := "scale"
			if unprefixed {
				cfg.RewriteNextURI, phase = stripGatewayPrefix, "scale-unprefixed"
			}
			res, err := r.load(ctx, t, cfg)
			if err != nil {
				t.stop()
				return nil, err
			}
			out = append(out, Run{Target: Switchyard, Phase: phase, Clusters: n, Concurrency: 8, Results: res})
		}
		t.stop()
	}
	return out, nil
}

// stripGatewayPrefix turns http://h/_sy/c/k/v1/... into http://h/v1/...
func stripGatewayPrefix(uri string) string {
	i := strings.Index(uri, "/_sy/")
	if i < 0 {
		return uri
	}
	rest := uri[i+len("/_sy/"):]
	for range 2 {
		j := strings.IndexByte(rest, '/')
		if j < 0 {
			return uri
		}
		rest = rest[j+1:]
	}
	return uri[:i] + "/" + rest
}

// prefill writes n live entries the way the gateway does.
func prefill(ctx context.Context, redisAddr string, n int) error {
	s, err := store.NewRedis(store.RedisOptions{Addresses: []string{redisAddr}, Timeout: time.Second, KeyPrefix: "sy:"})
	if err != nil {
		return err
	}
	defer s.Close()
	for i := range n {
		id := fmt.Sprintf("20260101_000000_%05d_bench", i)
		if err := s.Queries.PutQuery(ctx, id, store.QueryRoute{Cluster: "c0", Coordinator: "0"}, time.Hour); err != nil {
			return fmt.Errorf("prefilling the store: %w", err)
		}
	}
	return nil
}

// real compares the targets in front of a real Trino server; the
// warm-ups go to rep.
func (r *Runner) real(ctx context.Context, rep *Report) ([]Run, error) {
	p := r.Plan
	r.logf("real Trino: starting a single-node cluster")
	tr, err := r.Env.StartTrino("bench-trino", harness.TrinoOptions{})
	if err != nil {
		return nil, err
	}
	defer tr.Stop()
	if err := tr.WaitReady(ctx, 4*time.Minute); err != nil {
		return nil, err
	}
	targets := map[string]*target{}
	defer func() {
		for _, t := range targets {
			t.stop()
		}
	}()
	for _, name := range p.Targets {
		t, err := startTarget(ctx, r.Env, "real", name, tr.URL, 1)
		if err != nil {
			return nil, err
		}
		targets[name] = t
	}
	// Trino keeps warming up (JIT, caches) for minutes: one pass in a
	// fixed order would favour the targets measured last. Every target
	// is warmed until its latency is steady (p.RealWarm) first, then the
	// targets are interleaved like the simulator's runs (the order
	// rotates and reverses each repeat).
	for _, name := range p.Targets {
		t := targets[name]
		w, err := r.warm(ctx, "real", name, p.RealWarm, func(ctx context.Context, d time.Duration) (*loadgen.Results, error) {
			if err := r.routeEvents(t); err != nil {
				return nil, err
			}
			return loadgen.Run(ctx, t.client(loadgen.Config{SQL: p.RealSQL, Concurrency: p.RealConcurrency, Duration: d}))
		})
		if err != nil {
			return nil, fmt.Errorf("real Trino: %w", err)
		}
		rep.Warmups = append(rep.Warmups, w)
	}
	var out []Run
	for repeat := 1; repeat <= p.Repeats; repeat++ {
		for _, name := range rotate(p.Targets, repeat-1) {
			t := targets[name]
			r.logf("real Trino: repeat %d: %s with %d clients", repeat, t.name, p.RealConcurrency)
			if err := r.routeEvents(t); err != nil {
				return nil, err
			}
			cfg := t.client(loadgen.Config{SQL: p.RealSQL, Concurrency: p.RealConcurrency, Duration: p.RealWindow, Warmup: time.Second, PIDs: t.pids()})
			res, err := loadgen.Run(ctx, cfg)
			if err != nil {
				return nil, fmt.Errorf("real Trino, %s: %w", t.name, err)
			}
			if res.Completed == 0 {
				// A target the load cannot reach (wrong scheme, missing
				// credentials) is a harness error, not a figure.
				return nil, fmt.Errorf("real Trino, %s: no query completed (errors %v)", t.name, res.Errors)
			}
			out = append(out, Run{Target: t.name, Phase: "real", Repeat: repeat, Concurrency: p.RealConcurrency, Results: res})
		}
	}
	return out, nil
}

// microPackages hold the Go benchmarks make bench runs.
var microPackages = []string{"./pkg/events", "./pkg/extproc", "./pkg/routing", "./pkg/policy", "./pkg/sqlclass", "./pkg/store", "./pkg/watchdog", "./pkg/xds"}

// micro runs the Go benchmarks of the routing decision and of the
// governance store.
func (r *Runner) micro(ctx context.Context) string {
	cmd := exec.CommandContext(ctx, "go", append([]string{"test", "-run", "^$", "-bench", ".", "-benchmem", "-count", "5"}, microPackages...)...)
	cmd.Dir = r.Env.Root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Sprintf("go test -bench failed: %v\n%s", err, out)
	}
	var keep []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "Benchmark") || strings.HasPrefix(l, "pkg:") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

func pprofTop(ctx context.Context, env *harness.Env, profile string) string {
	cmd := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-cum", "-nodecount=30", env.Bin, profile)
	cmd.Dir = env.Root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Sprintf("go tool pprof failed: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}

var envoyVersion = regexp.MustCompile(`version: [0-9a-f]+/([0-9][0-9.]*)/`)

// Machine describes where the benchmark ran.
type Machine struct {
	CPU    string
	Cores  int
	Memory string
	Kernel string
}

// ReadMachine reads the machine description from /proc.
func ReadMachine() Machine {
	m := Machine{Cores: runtime.NumCPU()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && k == "MemTotal" {
				var kb int64
				fmt.Sscan(strings.TrimSpace(v), &kb)
				m.Memory = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

func (r *Runner) versions() map[string]string {
	run := func(name string, args ...string) string {
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			return "unknown"
		}
		return strings.TrimSpace(string(out))
	}
	v := map[string]string{
		"Trino":         r.Env.Versions["TRINO_VERSION"],
		"Trino Gateway": r.Env.Versions["TRINO_GATEWAY_VERSION"],
		"Go":            runtime.Version(),
	}
	if m := envoyVersion.FindStringSubmatch(run(r.Env.EnvoyPath(), "--version")); m != nil {
		v["Envoy"] = m[1]
	}
	if f := strings.Fields(run("redis-server", "--version")); len(f) > 2 {
		v["Redis"] = strings.TrimPrefix(f[2], "v=")
	}
	if bin, err := harness.PostgresBinDir(); err == nil {
		if f := strings.Fields(run(filepath.Join(bin, "postgres"), "--version")); len(f) > 2 {
			v["PostgreSQL"] = f[2]
		}
	}
	commit := run("git", "-C", r.Env.Root, "rev-parse", "--short", "HEAD")
	if run("git", "-C", r.Env.Root, "status", "--porcelain") != "" {
		commit += " (with uncommitted changes)"
	}
	v["Switchyard"] = commit
	return v
}

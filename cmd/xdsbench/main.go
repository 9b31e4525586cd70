// Command xdsbench measures how fast a change of the fleet reaches every
// Envoy attached to one control plane (`make bench-xds`) and writes
// docs/benchmarks-xds.md with a plot; the logic is in e2e/xdsscale.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/switchyard-gw/switchyard/e2e/harness"
	"github.com/switchyard-gw/switchyard/e2e/xdsscale"
)

func main() {
	smoke := flag.Bool("smoke", false, "2 Envoys, 10 clusters, 2 changes; the report goes under .cache/xdsbench-smoke/")
	out := flag.String("out", "", "report to write (default docs/benchmarks-xds.md; with -smoke, .cache/xdsbench-smoke/report.md)")
	plot := flag.String("plot", "", "plot to write (default docs/benchmarks-xds.png; with -smoke, next to the report; \"none\": no plot)")
	envoys := flag.String("envoys", "", "Envoy counts, comma separated (default the plan's)")
	clusters := flag.String("clusters", "", "cluster counts, comma separated (default the plan's)")
	changes := flag.Int("changes", 0, "state changes per point (default the plan's)")
	profile := flag.Bool("profile", false, "CPU profile of the control plane at the largest point (into the run's directory)")
	sotw := flag.Bool("sotw", false, "Envoys speak state-of-the-world xDS (the shipped bootstrap's is incremental)")
	clusterStats := flag.Bool("cluster-stats", false, "keep Envoy's statistics of every Trino cluster (more memory per Envoy)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	plan, dir := xdsscale.DefaultPlan(), ".cache/xdsbench"
	defOut, defPlot := "docs/benchmarks-xds.md", "docs/benchmarks-xds.png"
	if *smoke {
		plan, dir = xdsscale.SmokePlan(), ".cache/xdsbench-smoke"
		defOut, defPlot = filepath.Join(dir, "report.md"), filepath.Join(dir, "report.png")
	}
	var err error
	if *envoys != "" {
		if plan.Envoys, err = ints(*envoys); err != nil {
			fail(err)
		}
	}
	if *clusters != "" {
		if plan.Clusters, err = ints(*clusters); err != nil {
			fail(err)
		}
	}
	if *changes > 0 {
		plan.Changes = *changes
	}
	plan.Profile, plan.SotW, plan.ClusterStats = *profile, *sotw, *clusterStats
	if *out == "" {
		*out = defOut
	}
	switch *plot {
	case "":
		*plot = defPlot
	case "none":
		*plot = ""
	}
	if err := run(ctx, plan, dir, *out, *plot); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "xdsbench:", err)
	os.Exit(1)
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("%q: %w", s, err)
		}
		out = append(out, n)
	}
	return out, nil
}

func run(ctx context.Context, plan xdsscale.Plan, dir, out, plot string) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	// A run's files (Envoy bootstraps, logs, results) replace the last
	// run's.
	_ = os.RemoveAll(dir)
	env, err := harness.NewEnv(dir)
	if err != nil {
		return err
	}
	defer env.StopAll()
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	r := &xdsscale.Runner{Env: env, Plan: plan, Log: os.Stderr}
	rep, err := r.Execute(ctx)
	if err != nil {
		if rep != nil && len(rep.Points) > 0 {
			// What was measured before the failure, named as such.
			rep.Failure = err.Error()
			if werr := xdsscale.Write(context.Background(), env, rep, out, plot, filepath.Join(dir, "results.json")); werr != nil {
				fmt.Fprintln(os.Stderr, "xdsbench: writing the partial report:", werr)
			}
		}
		return fmt.Errorf("%w (logs in %s)", err, dir)
	}
	return xdsscale.Write(ctx, env, rep, out, plot, filepath.Join(dir, "results.json"))
}

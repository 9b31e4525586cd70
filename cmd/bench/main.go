// Command bench runs the benchmark (`make bench`): Switchyard side by side
// with direct access, plain Envoy and Trino Gateway, and writes
// docs/benchmarks.md with a latency plot.
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

	"github.com/switchyard-gw/switchyard/e2e/bench"
	"github.com/switchyard-gw/switchyard/e2e/harness"
)

func main() {
	smoke := flag.Bool("smoke", false, "a few seconds per target; figures mean nothing")
	out := flag.String("out", "docs/benchmarks.md", "report to write")
	plot := flag.String("plot", "docs/benchmarks-latency.png", "latency plot to write (empty: none)")
	targets := flag.String("targets", strings.Join(bench.AllTargets, ","), "targets, comma separated")
	repeats := flag.Int("repeats", 0, "repeats (default: the plan's)")
	quick := flag.Bool("quick", false, "skip the scale, real-Trino and micro-benchmark parts")
	realOnly := flag.Bool("real-only", false, "only the real-Trino comparison (no simulator, scale or micro-benchmark parts)")
	scale := flag.String("scale", "", "cluster counts of the scale part, comma separated (default: the plan's; with -quick, none)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	plan := bench.DefaultPlan()
	if *smoke {
		plan = bench.SmokePlan()
	}
	plan.Targets = strings.Split(*targets, ",")
	if *repeats > 0 {
		plan.Repeats = *repeats
	}
	if *quick {
		plan.Scale, plan.RealTrino, plan.Micro = nil, false, false
	}
	if *scale != "" {
		plan.Scale = nil
		for _, f := range strings.Split(*scale, ",") {
			n, err := strconv.Atoi(f)
			if err != nil || n < 1 {
				fmt.Fprintf(os.Stderr, "bench: -scale: %q is not a cluster count\n", f)
				os.Exit(2)
			}
			plan.Scale = append(plan.Scale, n)
		}
	}
	if *realOnly {
		plan.RealOnly, plan.RealTrino, plan.Micro = true, true, false
	}
	if err := run(ctx, plan, *out, *plot); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, plan bench.Plan, out, plot string) error {
	dir, err := filepath.Abs(filepath.Join(".cache", "bench"))
	if err != nil {
		return err
	}
	_ = os.RemoveAll(dir)
	env, err := harness.NewEnv(dir)
	if err != nil {
		return err
	}
	defer env.StopAll()
	r := &bench.Runner{Env: env, Plan: plan, Log: os.Stderr}
	rep, err := r.Execute(ctx)
	if err != nil {
		return fmt.Errorf("%w (logs in %s)", err, dir)
	}
	return bench.Write(ctx, env, rep, out, plot, filepath.Join(dir, "results.json"))
}

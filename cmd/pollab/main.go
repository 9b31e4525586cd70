// Command pollab runs the poll-latency A/B experiment of issue 17 (`make
// pollab`, e2e/pollab) and writes its Markdown report.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/switchyard-gw/switchyard/e2e/harness"
	"github.com/switchyard-gw/switchyard/e2e/pollab"
)

func main() {
	smoke := flag.Bool("smoke", false, "2 repeats of short windows; figures mean nothing")
	trino := flag.Bool("trino", false, "a real single-node Trino instead of the simulator (its own rate, SQL and warm-up)")
	out := flag.String("out", "docs/benchmarks-polls.md", "report to write")
	repeats := flag.Int("repeats", 0, "repeats (default: the plan's)")
	variants := flag.String("variants", strings.Join(pollab.VariantNames(), ","), "variants, comma separated")
	timing := flag.String("timing", pollab.NameAsIs, "variants the timing pass runs beside plain Envoy, comma separated")
	dump := flag.String("dump", "", "also write the xDS Envoy's config_dump here")
	from := flag.String("from", "", "render the report from a run's results.json (.cache/pollab/results.json) instead of running")
	flag.Parse()
	if *from != "" {
		if err := render(*from, *out); err != nil {
			fmt.Fprintln(os.Stderr, "pollab:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	plan := pollab.DefaultPlan()
	if *trino {
		plan = pollab.TrinoPlan()
	}
	if *smoke {
		plan = pollab.Smoke(plan)
	}
	if *repeats > 0 {
		plan.Repeats = *repeats
	}
	plan.Variants = strings.Split(*variants, ",")
	plan.TimingVariants = strings.Split(*timing, ",")
	if err := run(ctx, plan, *out, *dump); err != nil {
		fmt.Fprintln(os.Stderr, "pollab:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, plan pollab.Plan, out, dump string) error {
	dir, err := filepath.Abs(filepath.Join(".cache", "pollab"))
	if err != nil {
		return err
	}
	_ = os.RemoveAll(dir)
	env, err := harness.NewEnv(dir)
	if err != nil {
		return err
	}
	defer env.StopAll()
	r := &pollab.Runner{Env: env, Plan: plan, Log: os.Stderr, DumpPath: dump}
	rep, err := r.Execute(ctx)
	if err != nil {
		return fmt.Errorf("%w (logs in %s)", err, dir)
	}
	if b, err := json.MarshalIndent(rep, "", " "); err == nil {
		_ = os.WriteFile(filepath.Join(dir, "results.json"), b, 0o644)
	}
	if err := rep.WriteMarkdown(out); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "pollab: wrote", out)
	return nil
}

func render(from, out string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	var rep pollab.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return fmt.Errorf("%s: %w", from, err)
	}
	return rep.WriteMarkdown(out)
}

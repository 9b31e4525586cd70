package bench

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/switchyard-gw/switchyard/e2e/loadgen"
)

// Issue 17's targets, each judged on figures of the same run.
const (
	// submitGoal: Switchyard's added submission p50 at most this many
	// times plain Envoy's.
	submitGoal = 2.5
	// pollGoal: Switchyard's added poll p50 within this many times plain
	// Envoy's.
	pollGoal = 1.1
	// realSubmitGoalMS: with a real Trino, Switchyard's submission p50 at
	// most this many milliseconds over plain Envoy's.
	realSubmitGoalMS = 1.0
	// decisionGoalUS: the shipped policies (routing with the workload
	// classes, protection) evaluated for a submission of a 4 KB SQL text
	// (BenchmarkSubmissionPolicies on a grown stack, as the server's
	// evaluation workers run them), median, µs.
	decisionGoalUS = 40.0
	// cpuGoal: the control plane's CPU per 1,000 queries at most this
	// fraction of the baseline's.
	cpuGoal = 0.5
	// tgThroughputGoal: Switchyard's throughput at the p99 bound at least
	// this many times Trino Gateway's.
	tgThroughputGoal = 5.0
)

// The baseline of the CPU goal: `make bench` on 2026-12-04 at d3a0a9a
// (docs/benchmarks.md as committed in 8930f3a).
const (
	baselineRun = "the 2026-12-04 run at d3a0a9a"
	// baselineControlPlaneScale is the `switchyard` process alone, CPU s
	// per 1,000 queries, in that run's scale phase with 1 cluster,
	// prefixed polls, 8 clients and 10,000 sticky entries: the only
	// control-plane-only figure that run measured.
	baselineControlPlaneScale = 2.12
	// baselineAllProcesses is every process of the `switchyard` target
	// (Envoy, control plane, Redis) at saturation (32 clients), CPU s per
	// 1,000 queries: that run had no control-plane-only figure there.
	baselineAllProcesses = 3.92
)

// Smallest denominators a ratio divides by, in their units: under these a
// figure is zero or noise.
const (
	minAddedUS = 10.0 // added latency, µs
	minQPS     = 1.0  // queries/s
	minCPU     = 0.01 // CPU s per 1,000 queries
)

func yes(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

// verdict is yes or no when the ratio exists, and says so when it does not.
func verdict(r float64, ok bool, met func(float64) bool) string {
	if !ok {
		return "cannot tell (no ratio)"
	}
	return yes(met(r))
}

// marked returns flagMark when any of the figures disagrees over its
// repeats by more than factor.
func marked(factor float64, ss ...stat) string {
	for _, s := range ss {
		if disagrees(s, factor) {
			return flagMark
		}
	}
	return ""
}

// goals renders the rows of the goals table, and under it the note on
// flagged figures when a row has one.
func (rep *Report) goals(w func(string, ...any)) {
	has := func(t string) bool { return slices.Contains(rep.Plan.Targets, t) }
	flagged := false
	row := func(goal, measured, met string) {
		flagged = flagged || strings.Contains(measured, flagMark)
		w("| %s | %s | %s |\n", goal, measured, met)
	}
	if has(PlainEnvoy) && has(Switchyard) && has(Direct) {
		ss, es := rep.added(Switchyard, loadgen.KindSubmit, p50), rep.added(PlainEnvoy, loadgen.KindSubmit, p50)
		r, ok := safeRatio(ss.med, es.med, minAddedUS)
		row(fmt.Sprintf("added latency per submission at most %.1f× plain Envoy's (p50)", submitGoal),
			fmt.Sprintf("%s vs %s: %s%s", fwith(ss.med, 0, " µs"), fwith(es.med, 0, " µs"), formatRatio(ss.med, es.med, minAddedUS), marked(latencyDisagreement, ss, es)),
			verdict(r, ok, func(r float64) bool { return r <= submitGoal }))
		sp, ep := rep.added(Switchyard, loadgen.KindPoll, p50), rep.added(PlainEnvoy, loadgen.KindPoll, p50)
		r, ok = safeRatio(sp.med, ep.med, minAddedUS)
		row(fmt.Sprintf("added latency per poll within %.1f× plain Envoy's (p50)", pollGoal),
			fmt.Sprintf("%s vs %s: %s%s", fwith(sp.med, 0, " µs"), fwith(ep.med, 0, " µs"), formatRatio(sp.med, ep.med, minAddedUS), marked(latencyDisagreement, sp, ep)),
			verdict(r, ok, func(r float64) bool { return r <= pollGoal }))
		sp99, ep99 := rep.added(Switchyard, loadgen.KindPoll, p99), rep.added(PlainEnvoy, loadgen.KindPoll, p99)
		row("(added latency per poll at p99, for reference)",
			fmt.Sprintf("%s vs %s: %s", fwith(sp99.med, 0, " µs"), fwith(ep99.med, 0, " µs"), formatRatio(sp99.med, ep99.med, minAddedUS)), "")
	}
	if has(PlainEnvoy) && has(Switchyard) {
		rep.realGoal(row)
	}
	if has(Switchyard) {
		rep.cpuGoal(row)
	}
	if has(TrinoGateway) && has(Switchyard) {
		rep.trinoGatewayGoals(row)
	}
	if has(Switchyard) && has(SwitchyardUngoverned) && has(Direct) {
		rep.governanceGoal(w, yes)
	}
	for _, t := range []string{SwitchyardTLSPassword, SwitchyardTLSJWT} {
		if !has(t) || !has(PlainEnvoyTLS) || !has(Direct) {
			continue
		}
		sy := rep.added(t, loadgen.KindPoll, p50)
		en := rep.added(PlainEnvoyTLS, loadgen.KindPoll, p50)
		r, ok := safeRatio(sy.med, en.med, minAddedUS)
		row(fmt.Sprintf("HTTPS polls of `%s` within 1.2× plain Envoy's with TLS (p50)", t),
			fmt.Sprintf("%s vs %s: %s%s", fwith(sy.med, 0, " µs"), fwith(en.med, 0, " µs"), formatRatio(sy.med, en.med, minAddedUS), marked(latencyDisagreement, sy, en)),
			verdict(r, ok, func(r float64) bool { return r <= 1.2 }))
	}
	policies := fmt.Sprintf("the shipped policies (routing with the workload classes, protection; `BenchmarkSubmissionPolicies/goroutine=reused`: on a grown stack, as the server's evaluation workers run them) evaluated for a 4 KB SQL text in at most %.0f µs at the median", decisionGoalUS)
	switch p, ok := policiesMedian(rep.Micro); {
	case ok:
		row(policies, fmt.Sprintf("%.1f µs", p/1000), yes(p/1000 <= decisionGoalUS))
	case rep.Micro == "":
		row(policies, "not measured: the micro-benchmark part did not run (`-quick` and the smoke plan skip it)", "–")
	default:
		row(policies, "not measured: no `BenchmarkSubmissionPolicies/goroutine=reused` line in the micro-benchmark output", "–")
	}
	if d := decisionMedians(rep.Micro); len(d) > 0 {
		var parts []string
		for _, c := range slices.Sorted(maps.Keys(d)) {
			parts = append(parts, fmt.Sprintf("%d cluster(s): %.0f µs", c, d[c]/1000))
		}
		row("(the whole routing decision: classification, the shipped policies, cluster pick; `BenchmarkPolicyDecision`, mean, for reference)", strings.Join(parts, "; "), "")
	}
	if flagged {
		w("\n† An input figure's repeats disagree by more than %.1f× (p50 latency), %.1f× (queries/s) or %.1f× (throughput at the p99 bound): see the notes under the results tables.\n",
			latencyDisagreement, throughputDisagreement, boundDisagreement)
	}
}

// realGoal: with a real Trino behind both, Switchyard's submission p50 at
// most realSubmitGoalMS over plain Envoy's, the median of the per-repeat
// differences (the two measured in the same repeat).
func (rep *Report) realGoal(row func(goal, measured, met string)) {
	goal := fmt.Sprintf("real Trino: Switchyard's submission p50 within %.0f ms of plain Envoy's", realSubmitGoalMS)
	if len(rep.runs(Switchyard, "real")) == 0 || len(rep.runs(PlainEnvoy, "real")) == 0 {
		row(goal, "not measured: the real-Trino phase did not run (`-quick` and the smoke plan skip it)", "–")
		return
	}
	sub := func(res *loadgen.Results) float64 { return ms(res.Latency[loadgen.KindSubmit].P50) }
	var d []float64
	for _, r := range rep.runs(Switchyard, "real") {
		if e := rep.run(PlainEnvoy, "real", r.Repeat); e != nil {
			d = append(d, sub(r.Results)-sub(e.Results))
		}
	}
	diff := summarize(d)
	sy, en := rep.perRepeat(Switchyard, "real", sub), rep.perRepeat(PlainEnvoy, "real", sub)
	if math.IsNaN(diff.med) {
		row(goal, "not measured: no repeat with both", "–")
		return
	}
	row(goal, fmt.Sprintf("%s vs %s; per-repeat difference %s ms%s", fwith(sy.med, 2, " ms"), fwith(en.med, 2, " ms"), diff.format("", 2), marked(latencyDisagreement, sy, en)),
		yes(diff.med <= realSubmitGoalMS))
}

// cpuGoal: the control plane's CPU per 1,000 queries at most half the
// baseline's. Like is compared with like: the control plane alone in the
// scale phase's 1-cluster prefixed run against the baseline's same run;
// without that run (-quick, smoke) all of `switchyard`'s processes at
// saturation against the baseline's all-process figure, saying so.
func (rep *Report) cpuGoal(row func(goal, measured, met string)) {
	goal := fmt.Sprintf("control-plane CPU per 1,000 queries at most %.0f%% of the baseline's (%s)", 100*cpuGoal, baselineRun)
	var scale1 *Run
	for _, r := range rep.phaseRuns("scale") {
		if r.Clusters == 1 {
			scale1 = &r
			break
		}
	}
	cp := rep.perRepeat(Switchyard, "saturation", controlPlanePer1000)
	all := rep.perRepeat(Switchyard, "saturation", cpuPer1000)
	if scale1 != nil {
		x := controlPlanePer1000(scale1.Results)
		r, ok := safeRatio(x, baselineControlPlaneScale, minCPU)
		row(goal+": the `switchyard` process alone, scale phase, 1 cluster, prefixed polls, 8 clients (the baseline's only control-plane-only figure)",
			fmt.Sprintf("%s vs %.2f s: %s", fwith(x, 2, " s"), baselineControlPlaneScale, formatRatio(x, baselineControlPlaneScale, minCPU)),
			verdict(r, ok, func(r float64) bool { return r <= cpuGoal }))
		row(fmt.Sprintf("(at saturation, %d clients, for reference: the baseline has no control-plane-only figure there; all of `switchyard`'s processes against its %.2f s)", rep.Plan.Saturation, baselineAllProcesses),
			fmt.Sprintf("all processes %s vs %.2f s: %s; the control plane alone %s", fwith(all.med, 2, " s"), baselineAllProcesses, formatRatio(all.med, baselineAllProcesses, minCPU), fwith(cp.med, 2, " s")), "")
		return
	}
	r, ok := safeRatio(all.med, baselineAllProcesses, minCPU)
	row(fmt.Sprintf("%s: no scale run with 1 cluster (`-quick` skips the phase, the smoke plan runs 2 clusters), so all of `switchyard`'s processes at saturation (%d clients) against the baseline's all-process %.2f s (it measured no control-plane-only figure there)", goal, rep.Plan.Saturation, baselineAllProcesses),
		fmt.Sprintf("all processes %s vs %.2f s: %s; the control plane alone %s", fwith(all.med, 2, " s"), baselineAllProcesses, formatRatio(all.med, baselineAllProcesses, minCPU), fwith(cp.med, 2, " s")),
		verdict(r, ok, func(r float64) bool { return r <= cpuGoal }))
}

// trinoGatewayGoals: throughput at the p99 bound at least 5× Trino
// Gateway's, and CPU per query lower. A peer that never met the bound is
// reported as such, never divided by: its throughput there is under the
// lowest offered rate, so Switchyard's figure over that rate is a lower
// bound of the ratio.
func (rep *Report) trinoGatewayGoals(row func(goal, measured, met string)) {
	p := rep.Plan
	goal := fmt.Sprintf("throughput at least %.0f× Trino Gateway's at equal p99 (≤ %v)", tgThroughputGoal, p.P99Bound)
	sy, tg := rep.rateStat(Switchyard), rep.rateStat(TrinoGateway)
	mark := marked(boundDisagreement, sy, tg)
	switch r, ok := safeRatio(sy.med, tg.med, minQPS); {
	case ok:
		row(goal, fmt.Sprintf("%.0f vs %.0f queries/s: %.2f×%s", sy.med, tg.med, r, mark), yes(r >= tgThroughputGoal))
	case math.IsNaN(sy.med) || math.IsNaN(tg.med):
		row(goal, "not measured", "–")
	case sy.med < minQPS:
		row(goal, fmt.Sprintf("neither met the bound: Switchyard: %s; Trino Gateway: %s%s", rep.neverMet(Switchyard), rep.neverMet(TrinoGateway), mark), "**no**")
	default:
		measured := fmt.Sprintf("%.0f queries/s vs Trino Gateway: %s%s", sy.med, rep.neverMet(TrinoGateway), mark)
		lower, ok := 0.0, false
		if len(p.Rates) > 0 {
			lower, ok = safeRatio(sy.med, p.Rates[0], minQPS)
		}
		if !ok {
			row(goal, measured, "cannot tell")
			break
		}
		measured += fmt.Sprintf(": its throughput at the bound is under the lowest offered rate (%.0f queries/s), so the ratio is over %.2f×", p.Rates[0], lower)
		met := "yes (lower bound)"
		if lower < tgThroughputGoal {
			met = "cannot tell (the lower bound is under the goal)"
		}
		row(goal, measured, met)
	}
	sq := rep.perRepeat(Switchyard, "saturation", func(r *loadgen.Results) float64 { return r.QueriesPerSecond })
	tq := rep.perRepeat(TrinoGateway, "saturation", func(r *loadgen.Results) float64 { return r.QueriesPerSecond })
	row("(saturation throughput, for reference)",
		fmt.Sprintf("%s vs %s queries/s: %s%s", fnum(sq.med, 0), fnum(tq.med, 0), formatRatio(sq.med, tq.med, minQPS), marked(throughputDisagreement, sq, tq)), "")
	sc := rep.perRepeat(Switchyard, "saturation", cpuPer1000)
	tc := rep.perRepeat(TrinoGateway, "saturation", cpuPer1000)
	met := "cannot tell"
	if !math.IsNaN(sc.med) && !math.IsNaN(tc.med) {
		met = yes(sc.med < tc.med)
	}
	row("CPU per 1,000 queries lower than Trino Gateway's (all processes, at saturation)",
		fmt.Sprintf("%s vs %s: %s", fwith(sc.med, 2, " s"), fwith(tc.med, 2, " s"), formatRatio(sc.med, tc.med, minCPU)), met)
}

// neverMet describes a target that met the p99 bound in no (or too few)
// repeats, with its best p99 on the curve.
func (rep *Report) neverMet(target string) string {
	s := rep.rateStat(target)
	what := "never met"
	if s.hi > 0 {
		what = fmt.Sprintf("met in too few repeats (median %.0f queries/s, best %.0f)", s.med, s.hi)
	}
	if p, rate := rep.bestP99(target); rate > 0 {
		what += fmt.Sprintf(" (best p99 %.1f ms, at %.0f queries/s)", ms(p), rate)
	}
	return what
}

// bestP99 is the lowest query p99 (µs) of a target's curve runs that
// completed queries, and its offered rate (0 when there is none).
func (rep *Report) bestP99(target string) (float64, float64) {
	best, rate := math.Inf(1), 0.0
	for _, r := range rep.runs(target, "curve") {
		if r.Results == nil || r.Results.Completed == 0 {
			continue
		}
		if q := r.Results.Latency[loadgen.KindQuery].P99; q < best {
			best, rate = q, r.Rate
		}
	}
	return best, rate
}

// controlPlanePer1000 is the CPU seconds of the `switchyard` process (the
// control plane) and its descendants per 1,000 completed queries.
func controlPlanePer1000(res *loadgen.Results) float64 {
	if res == nil || res.Completed == 0 {
		return math.NaN()
	}
	var cpu float64
	found := false
	for name, p := range res.Processes {
		if name == "switchyard" || strings.HasPrefix(name, "switchyard/") {
			cpu += p.CPUSeconds
			found = true
		}
	}
	if !found {
		return math.NaN()
	}
	return cpu / float64(res.Completed) * 1000
}

// fnum prints a figure, or "n/a" when it is missing (NaN, infinite).
func fnum(x float64, digits int) string { return fwith(x, digits, "") }

// fwith prints a figure with its unit, or "n/a".
func fwith(x float64, digits int, unit string) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "n/a"
	}
	return fmt.Sprintf("%.*f%s", digits, x, unit)
}

package bench

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/e2e/loadgen"
)

var testRule = Steadiness{Window: time.Second, Max: 5 * time.Second, P50Tolerance: 0.15, P99Tolerance: 0.25, MinQueries: 20}

func win(p50, p99 float64, n int64) WarmWindow {
	return WarmWindow{P50: p50, P99: p99, Completed: n}
}

// TestSteady decides steadiness from the last two windows only.
func TestSteady(t *testing.T) {
	for _, c := range []struct {
		name string
		ws   []WarmWindow
		want bool
	}{
		{"one window", []WarmWindow{win(100, 200, 100)}, false},
		{"agree", []WarmWindow{win(100, 200, 100), win(110, 240, 100)}, true},
		{"p50 at the tolerance", []WarmWindow{win(100, 200, 100), win(115, 200, 100)}, true},
		{"p50 apart", []WarmWindow{win(100, 200, 100), win(120, 200, 100)}, false},
		{"p50 apart, falling", []WarmWindow{win(120, 200, 100), win(100, 200, 100)}, false},
		{"p99 apart", []WarmWindow{win(100, 200, 100), win(100, 260, 100)}, false},
		{"only the last two count", []WarmWindow{win(1000, 5000, 100), win(100, 200, 100), win(105, 210, 100)}, true},
		{"too few queries", []WarmWindow{win(100, 200, 19), win(100, 200, 100)}, false},
		{"nothing completed", []WarmWindow{win(math.NaN(), math.NaN(), 0), win(math.NaN(), math.NaN(), 0)}, false},
		{"zeros", []WarmWindow{win(0, 0, 100), win(0, 0, 100)}, false},
		{"infinite", []WarmWindow{win(math.Inf(1), 200, 100), win(math.Inf(1), 200, 100)}, false},
	} {
		if got := testRule.steady(c.ws); got != c.want {
			t.Errorf("%s: steady %v, want %v", c.name, got, c.want)
		}
	}
	if n := testRule.maxWindows(); n != 5 {
		t.Errorf("max windows %d, want 5", n)
	}
	if n := (Steadiness{Window: time.Second, Max: time.Second}).maxWindows(); n != 2 {
		t.Errorf("max windows %d, want at least 2", n)
	}
}

// TestWarmUntilSteady stops at the first steady pair, or at the maximum
// without claiming steadiness.
func TestWarmUntilSteady(t *testing.T) {
	seq := func(ws ...WarmWindow) (func() (WarmWindow, error), *int) {
		calls := 0
		return func() (WarmWindow, error) {
			w := ws[min(calls, len(ws)-1)]
			calls++
			return w, nil
		}, &calls
	}
	// A JVM: slow, then faster, then steady.
	next, calls := seq(win(1000e3, 2000e3, 30), win(300e3, 900e3, 80), win(90e3, 200e3, 300), win(85e3, 190e3, 320), win(1, 1, 1))
	w, err := warmUntilSteady(testRule, next)
	if err != nil || !w.Steady || len(w.Windows) != 4 || *calls != 4 {
		t.Fatalf("steady %v after %d windows (%d calls), err %v", w.Steady, len(w.Windows), *calls, err)
	}
	// Never steady: alternates.
	next, calls = seq(win(100, 200, 100), win(300, 600, 100), win(100, 200, 100), win(300, 600, 100), win(100, 200, 100))
	w, err = warmUntilSteady(testRule, next)
	if err != nil || w.Steady || len(w.Windows) != 5 || *calls != 5 {
		t.Fatalf("steady %v after %d windows (%d calls), err %v", w.Steady, len(w.Windows), *calls, err)
	}
	w.Target, w.Phase = TrinoGateway, "simulator"
	if line := w.describe(); !strings.Contains(line, "**not steady**") || !strings.Contains(line, "| 5 |") {
		t.Fatalf("line %q", line)
	}
	// An error ends the warm-up.
	boom := errors.New("boom")
	w, err = warmUntilSteady(testRule, func() (WarmWindow, error) { return WarmWindow{}, boom })
	if !errors.Is(err, boom) || len(w.Windows) != 0 {
		t.Fatalf("err %v, windows %d", err, len(w.Windows))
	}
}

// TestFormatRatio never divides by a zero, near-zero, negative or
// missing figure.
func TestFormatRatio(t *testing.T) {
	for _, c := range []struct {
		num, den, min float64
		want          string
	}{
		{400, 200, 1, "2.00×"},
		{0, 200, 1, "0.00×"},
		{400, 0, 1, "no ratio (the denominator 0 is under 1)"},
		{400, 1e-9, 1, "no ratio (the denominator 1e-09 is under 1)"},
		{400, 0.5, 1, "no ratio (the denominator 0.5 is under 1)"},
		{400, -20, 1, "no ratio (the denominator -20 is under 1)"},
		{-5, 20, 1, "no ratio (the numerator is negative)"},
		{math.NaN(), 20, 1, "no ratio (a figure is missing)"},
		{400, math.NaN(), 1, "no ratio (a figure is missing)"},
		{math.Inf(1), 20, 1, "no ratio (a figure is missing)"},
		{400, math.Inf(1), 1, "no ratio (a figure is missing)"},
		{400, 0, 0, "no ratio (the denominator 0 is under 0)"},
	} {
		if got := formatRatio(c.num, c.den, c.min); got != c.want {
			t.Errorf("%v/%v (min %v): %q, want %q", c.num, c.den, c.min, got, c.want)
		}
		if r, ok := safeRatio(c.num, c.den, c.min); ok == strings.HasPrefix(c.want, "no ratio") || (ok && (math.IsNaN(r) || math.IsInf(r, 0))) {
			t.Errorf("%v/%v: safeRatio %v %v", c.num, c.den, r, ok)
		}
	}
}

// TestDisagreement flags figures whose repeats differ by more than the
// factor, a zero or a sign change included.
func TestDisagreement(t *testing.T) {
	for _, c := range []struct {
		xs   []float64
		want float64 // spread; NaN: not defined
	}{
		{[]float64{5}, math.NaN()},
		{[]float64{78, 1022}, 1022.0 / 78},
		{[]float64{2, 2}, 1},
		{[]float64{0, 0}, 1},
		{[]float64{0, 400}, math.Inf(1)},
		{[]float64{-0.1, 0.3}, math.Inf(1)},
		{[]float64{-0.1, -0.3}, 3},
		{[]float64{100, 150, 190}, 1.9},
	} {
		got := spread(summarize(c.xs))
		if !(got == c.want || math.IsNaN(got) && math.IsNaN(c.want) || math.Abs(got-c.want) < 1e-9) {
			t.Errorf("%v: spread %v, want %v", c.xs, got, c.want)
		}
	}
	f := &flags{}
	if m := f.mark("one repeat", "5", summarize([]float64{5}), 2, 0.01); m != "" {
		t.Errorf("one repeat marked %q", m)
	}
	if m := f.mark("agree", "2 (1.5–2.5)", summarize([]float64{1.5, 2.5}), 2, 0.01); m != "" {
		t.Errorf("1.7× marked %q at 2×", m)
	}
	if m := f.mark("tg submit", "550 (78–1022)", summarize([]float64{78, 1022}), 2, 0.01); m != flagMark {
		t.Errorf("13× not marked")
	}
	if m := f.mark("tg bound", "0 (0–400)", summarize([]float64{0, 400}), 2, 1); m != flagMark {
		t.Errorf("0 and 400 not marked")
	}
	if m := f.mark("tiny", "0.5 (0.001–1)", summarize([]float64{0.001, 1}), 2, 0.01); m != flagMark {
		t.Errorf("near zero not marked")
	}
	if len(f.notes) != 3 || !strings.Contains(f.notes[0], "tg submit: 550 (78–1022) (max/min 13.1× > 2.0×)") ||
		!strings.Contains(f.notes[1], "no ratio") || !strings.Contains(f.notes[2], "no ratio") {
		t.Fatalf("notes %q", f.notes)
	}
	var b strings.Builder
	f.write(func(format string, a ...any) { b.WriteString(fmtS(format, a...)) })
	if !strings.Contains(b.String(), "† Repeats disagree") || strings.Count(b.String(), "\n- ") != 3 {
		t.Fatalf("notes rendered:\n%s", b.String())
	}
}

// results makes loadgen results with the given query, submission and
// poll p50 (µs; p99 twice that), queries/s, and CPU seconds of the named
// processes.
func results(q, sub, poll, qps float64, cpu map[string]float64) *loadgen.Results {
	res := &loadgen.Results{
		Queries: int64(qps * 6), Completed: int64(qps * 6), QueriesPerSecond: qps,
		Latency: map[string]loadgen.LatencyStats{
			loadgen.KindQuery:  {Count: 1, P50: q, P99: 2 * q},
			loadgen.KindSubmit: {Count: 1, P50: sub, P99: 2 * sub},
			loadgen.KindPoll:   {Count: 1, P50: poll, P99: 2 * poll},
		},
		Processes: map[string]loadgen.ProcResult{},
	}
	for name, s := range cpu {
		res.Processes[name] = loadgen.ProcResult{CPUSeconds: s, PeakRSSBytes: 100 << 20}
	}
	return res
}

// TestReportNeverMetAndFlags renders a report where Trino Gateway never
// meets the p99 bound and its repeats disagree wildly: no ratio divides
// by its zero, the cells are marked and listed, and the goals that did
// not run say so.
func TestReportNeverMetAndFlags(t *testing.T) {
	p := DefaultPlan()
	p.Repeats, p.Targets = 2, []string{Direct, PlainEnvoy, Switchyard, TrinoGateway}
	p.RealTrino, p.Scale, p.Micro = false, nil, false
	rep := &Report{Plan: p, Versions: map[string]string{}}
	add := func(target, phase string, repeat int, rate float64, res *loadgen.Results) {
		rep.Runs = append(rep.Runs, Run{Target: target, Phase: phase, Repeat: repeat, Rate: rate, Results: res})
	}
	sy := map[string]float64{"envoy": 1, "switchyard": 3, "redis": 1}
	for i := 1; i <= 2; i++ {
		add(Direct, "fixed", i, 100, results(2500, 500, 300, 100, nil))
		add(PlainEnvoy, "fixed", i, 100, results(4300, 1200, 640, 100, nil))
		add(Switchyard, "fixed", i, 100, results(7000, 3000, 690, 100, nil))
		tgSub := []float64{78e3, 1022e3}[i-1]
		add(TrinoGateway, "fixed", i, 100, results(2*tgSub, tgSub, tgSub/2, 100, nil))
		add(Direct, "saturation", i, 0, results(2500, 500, 300, 2800, nil))
		add(PlainEnvoy, "saturation", i, 0, results(4300, 1200, 640, 1300, map[string]float64{"envoy": 2}))
		add(Switchyard, "saturation", i, 0, results(7000, 3000, 690, 320, sy))
		add(TrinoGateway, "saturation", i, 0, results(500e3, 200e3, 100e3, []float64{60, 105}[i-1], map[string]float64{"java": 20, "postgres": 2}))
		for _, rate := range []float64{50, 100, 200, 400} {
			add(Direct, "curve", i, rate, results(2500, 500, 300, rate, nil))
			add(PlainEnvoy, "curve", i, rate, results(4300, 1200, 640, rate, nil))
			add(Switchyard, "curve", i, rate, results(7000, 3000, 690, rate, nil))
		}
		add(TrinoGateway, "curve", i, 50, results(60e3, 20e3, 10e3, 50, nil)) // p99 120 ms: over the bound
	}
	rep.Warmups = []Warmup{
		{Target: Direct, Phase: "simulator", Windows: []WarmWindow{win(2500, 5000, 500), win(2600, 5100, 500)}, Steady: true, Seconds: 10},
		{Target: TrinoGateway, Phase: "simulator", Windows: []WarmWindow{win(900e3, 2e6, 50), win(300e3, 1e6, 80)}, Seconds: 90},
	}
	md := rep.Markdown("")

	for _, want := range []string{
		"| never met (best p99 120.0 ms, at 50 queries/s) |",
		"400 queries/s vs Trino Gateway: never met (best p99 120.0 ms, at 50 queries/s)",
		"so the ratio is over 8.00× | yes (lower bound) |",
		"added latency per submission at most 2.5× plain Envoy's (p50) | 2500 µs vs 700 µs: 3.57× | **no** |",
		"added latency per poll within 1.1× plain Envoy's (p50) | 390 µs vs 340 µs: 1.15× | **no** |",
		"real Trino: Switchyard's submission p50 within 1 ms of plain Envoy's | not measured: the real-Trino phase did not run",
		"no scale run with 1 cluster",
		"all processes 2.60 s vs 3.92 s: 0.66×; the control plane alone 1.56 s | **no** |",
		"`trino-gateway` added submit p50 (ms): 549.500 (77.500–1021.500) (max/min 13.2× > 2.0×)",
		"`trino-gateway` queries/s at saturation",
		"evaluated for a 4 KB SQL text in at most 40 µs at the median | not measured",
		"| simulator | trino-gateway | **not steady** | 2 | 90 s |",
		"Not steady within the maximum warm time: `trino-gateway` (simulator).",
		"† An input figure's repeats disagree",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	// No ratio anywhere divides by a zero or near-zero figure.
	for _, m := range regexp.MustCompile(`([0-9][0-9.e+]*)×`).FindAllStringSubmatch(md, -1) {
		x, err := strconv.ParseFloat(m[1], 64)
		if err != nil || x > 1000 {
			t.Errorf("ratio %q in the report", m[0])
		}
	}
	if strings.Contains(md, "NaN") || strings.Contains(md, "Inf") {
		t.Errorf("NaN or Inf in the report")
	}
	if t.Failed() {
		t.Log("\n" + md)
	}

	// With the scale phase's 1-cluster run and the real-Trino phase, the
	// CPU goal compares the control plane alone with the baseline's same
	// run, and the real-Trino goal takes the per-repeat differences.
	rep.Plan.RealTrino = true
	rep.Runs = append(rep.Runs, Run{Target: Switchyard, Phase: "scale", Clusters: 1, Results: results(7000, 3000, 690, 200, map[string]float64{"switchyard": 1.2})})
	for i, d := range []float64{0.4, 1.4} {
		add(PlainEnvoy, "real", i+1, 0, results(250e3, 12e3, 26e3, 15, nil))
		add(Switchyard, "real", i+1, 0, results(260e3, 12e3+d*1000, 27e3, 14, nil))
	}
	md = rep.Markdown("")
	for _, want := range []string{
		"scale phase, 1 cluster, prefixed polls, 8 clients (the baseline's only control-plane-only figure) | 1.00 s vs 2.12 s: 0.47× | yes |",
		"(at saturation, 32 clients, for reference",
		"real Trino: Switchyard's submission p50 within 1 ms of plain Envoy's | 12.90 ms vs 12.00 ms; per-repeat difference 0.90 (0.40–1.40) ms | yes |",
		"## Real Trino backend",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log("\n" + md)
	}
}

func fmtS(format string, a ...any) string {
	var b strings.Builder
	fmt.Fprintf(&b, format, a...)
	return b.String()
}

// TestNeverMet describes a target that met the p99 bound in no repeat,
// or in too few for its median.
func TestNeverMet(t *testing.T) {
	p := DefaultPlan()
	p.Repeats, p.Targets = 3, []string{Switchyard, TrinoGateway}
	rep := &Report{Plan: p}
	for i := 1; i <= 3; i++ {
		rep.Runs = append(rep.Runs, Run{Target: Switchyard, Phase: "curve", Repeat: i, Rate: 50, Results: results(60e3, 20e3, 10e3, 50, nil)})
	}
	rep.Runs = append(rep.Runs, Run{Target: TrinoGateway, Phase: "curve", Repeat: 1, Rate: 50, Results: results(10e3, 2e3, 1e3, 50, nil)})
	if got := rep.neverMet(Switchyard); got != "never met (best p99 120.0 ms, at 50 queries/s)" {
		t.Errorf("switchyard: %q", got)
	}
	if got := rep.neverMet(TrinoGateway); got != "met in too few repeats (median 0 queries/s, best 50) (best p99 20.0 ms, at 50 queries/s)" {
		t.Errorf("trino-gateway: %q", got)
	}
	var b strings.Builder
	rep.trinoGatewayGoals(func(goal, measured, met string) { fmt.Fprintf(&b, "| %s | %s | %s |\n", goal, measured, met) })
	if !strings.Contains(b.String(), "neither met the bound") || strings.Contains(b.String(), "Inf") || strings.Contains(b.String(), "NaN") {
		t.Errorf("rows:\n%s", b.String())
	}
}

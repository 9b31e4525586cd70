package bench

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/switchyard-gw/switchyard/e2e/loadgen"
)

// Steadiness is how a target is warmed before it is measured: closed-loop
// load in windows of Window, until the query latency of two consecutive
// windows agrees (p50 within P50Tolerance and p99 within P99Tolerance, as
// max/min − 1), each of the two windows having completed at least
// MinQueries queries; at most Max of windows in all. A JVM (Trino
// Gateway, Trino) keeps compiling for a while: a fixed warm-up measured
// it sometimes warm and sometimes not. A target that never steadies is
// measured anyway, and the report says so.
type Steadiness struct {
	Window       time.Duration
	Max          time.Duration
	P50Tolerance float64
	P99Tolerance float64
	MinQueries   int64
}

// maxWindows is how many windows fit in Max (at least two: steadiness
// compares two).
func (s Steadiness) maxWindows() int {
	if s.Window <= 0 {
		return 2
	}
	return max(2, int(math.Ceil(float64(s.Max)/float64(s.Window))))
}

// steady tells whether the last two windows agree.
func (s Steadiness) steady(ws []WarmWindow) bool {
	if len(ws) < 2 {
		return false
	}
	a, b := ws[len(ws)-2], ws[len(ws)-1]
	return a.Completed >= s.MinQueries && b.Completed >= s.MinQueries &&
		agree(a.P50, b.P50, s.P50Tolerance) && agree(a.P99, b.P99, s.P99Tolerance)
}

// describe states the rule for the report.
func (s Steadiness) describe() string {
	return fmt.Sprintf("windows of %v until two consecutive windows agree: query p50 within %.0f%% and p99 within %.0f%% (max/min − 1), each window with at least %d completed queries; at most %v",
		s.Window, 100*s.P50Tolerance, 100*s.P99Tolerance, s.MinQueries, s.Max)
}

// agree: two positive figures within tol of each other (max/min − 1).
// A zero, negative, NaN or infinite figure agrees with nothing.
func agree(x, y, tol float64) bool {
	if !(x > 0 && y > 0) || math.IsInf(x, 0) || math.IsInf(y, 0) {
		return false
	}
	return math.Max(x, y)/math.Min(x, y)-1 <= tol
}

// WarmWindow is one warm-up window of a target: its query latency (µs),
// completed queries and queries/s.
type WarmWindow struct {
	P50       float64 `json:"p50_us"`
	P99       float64 `json:"p99_us"`
	Completed int64   `json:"completed"`
	QPS       float64 `json:"queries_per_s"`
}

func warmWindowOf(res *loadgen.Results) WarmWindow {
	q := res.Latency[loadgen.KindQuery]
	w := WarmWindow{P50: q.P50, P99: q.P99, Completed: res.Completed, QPS: res.QueriesPerSecond}
	if res.Completed == 0 { // no latency to speak of
		w.P50, w.P99 = math.NaN(), math.NaN()
	}
	return w
}

// Warmup is how one target was warmed in one phase ("simulator" or
// "real"): every window, and whether the last two agreed.
type Warmup struct {
	Target  string       `json:"target"`
	Phase   string       `json:"phase"`
	Windows []WarmWindow `json:"windows"`
	Steady  bool         `json:"steady"`
	Seconds float64      `json:"seconds"`
}

// warmUntilSteady runs window (one warm-up window each call) until rule
// holds for the last two windows or rule.Max is used up.
func warmUntilSteady(rule Steadiness, window func() (WarmWindow, error)) (Warmup, error) {
	var w Warmup
	for len(w.Windows) < rule.maxWindows() {
		win, err := window()
		if err != nil {
			return w, err
		}
		w.Windows = append(w.Windows, win)
		if rule.steady(w.Windows) {
			w.Steady = true
			break
		}
	}
	return w, nil
}

// warm warms one target under rule with run (one closed-loop window of
// the given length) and logs each window.
func (r *Runner) warm(ctx context.Context, phase, name string, rule Steadiness, run func(ctx context.Context, d time.Duration) (*loadgen.Results, error)) (Warmup, error) {
	start := time.Now()
	w, err := warmUntilSteady(rule, func() (WarmWindow, error) {
		res, err := run(ctx, rule.Window)
		if err != nil {
			return WarmWindow{}, err
		}
		win := warmWindowOf(res)
		r.logf("%s: warming %s: query p50 %.1f ms, p99 %.1f ms, %d queries (%.0f/s)", phase, name, ms(win.P50), ms(win.P99), win.Completed, win.QPS)
		return win, nil
	})
	w.Target, w.Phase, w.Seconds = name, phase, time.Since(start).Seconds()
	if err != nil {
		return w, fmt.Errorf("%s, warming %s: %w", phase, name, err)
	}
	if w.Steady {
		r.logf("%s: %s steady after %d windows (%.0fs)", phase, name, len(w.Windows), w.Seconds)
	} else {
		r.logf("%s: %s NOT steady after %d windows (%.0fs): measured anyway", phase, name, len(w.Windows), w.Seconds)
	}
	return w, nil
}

// describe is a warm-up's line in the report: windows, time, and the
// last two windows' figures.
func (w Warmup) describe() string {
	verdict := "**not steady**"
	if w.Steady {
		verdict = "steady"
	}
	last := func(i int) string {
		if i < 0 || i >= len(w.Windows) {
			return "–"
		}
		x := w.Windows[i]
		return fmt.Sprintf("%s / %s (%d queries)", fmtMS(x.P50), fmtMS(x.P99), x.Completed)
	}
	n := len(w.Windows)
	return fmt.Sprintf("| %s | %s | %s | %d | %.0f s | %s | %s |", w.Phase, w.Target, verdict, n, w.Seconds, last(n-2), last(n-1))
}

func fmtMS(us float64) string { return fnum(ms(us), 1) }

// safeRatio is num/den when both are finite, num is not negative and den
// is at least minDen (the smallest denominator meaningful in its unit).
func safeRatio(num, den, minDen float64) (float64, bool) {
	if math.IsNaN(num) || math.IsNaN(den) || math.IsInf(num, 0) || math.IsInf(den, 0) {
		return math.NaN(), false
	}
	if num < 0 || den < minDen || den <= 0 {
		return math.NaN(), false
	}
	return num / den, true
}

// formatRatio prints num/den as "1.23×", or why there is no ratio: a
// missing figure (NaN, infinite) or a zero, negative or near-zero
// denominator (under minDen) is never divided by.
func formatRatio(num, den, minDen float64) string {
	if r, ok := safeRatio(num, den, minDen); ok {
		return fmt.Sprintf("%.2f×", r)
	}
	switch {
	case math.IsNaN(num) || math.IsNaN(den) || math.IsInf(num, 0) || math.IsInf(den, 0):
		return "no ratio (a figure is missing)"
	case num < 0:
		return "no ratio (the numerator is negative)"
	default:
		return fmt.Sprintf("no ratio (the denominator %s is under %s)", trimFloat(den), trimFloat(minDen))
	}
}

func trimFloat(x float64) string { return strings.TrimSuffix(fmt.Sprintf("%g", x), ".0") }

// Factors over which the repeats of a figure disagree (max/min over
// repeats): a p50 latency, a queries/s figure, and the throughput at the
// p99 bound (a rate of the offered-rate grid, whose neighbours differ by
// up to 2×: one step is not a disagreement).
const (
	latencyDisagreement    = 2.0
	throughputDisagreement = 1.5
	boundDisagreement      = 2.0
)

// spread is max/min over repeats of a figure's magnitude: 1 when the
// repeats agree, +Inf when one is zero while another is not or the sign
// changes, NaN with fewer than two repeats.
func spread(s stat) float64 {
	switch {
	case s.n < 2 || math.IsNaN(s.lo) || math.IsNaN(s.hi):
		return math.NaN()
	case s.lo == s.hi:
		return 1
	case s.lo > 0:
		return s.hi / s.lo
	case s.hi < 0:
		return s.lo / s.hi
	}
	return math.Inf(1)
}

// disagrees: the repeats of s differ by more than factor.
func disagrees(s stat, factor float64) bool {
	x := spread(s)
	return !math.IsNaN(x) && x > factor
}

// flagMark marks a cell whose repeats disagree.
const flagMark = " †"

// flags collects the figures of a table whose repeats disagree.
type flags struct{ notes []string }

// mark returns flagMark when s disagrees over its repeats by more than
// factor, and records label with its range (shown, the cell as printed).
// minDen is the smallest magnitude of the figure's unit worth dividing by.
func (f *flags) mark(label, shown string, s stat, factor, minDen float64) string {
	if !disagrees(s, factor) {
		return ""
	}
	why := fmt.Sprintf("a repeat is zero, near zero or of the other sign: over %.1f×, no ratio", factor)
	if s.lo > 0 || s.hi < 0 { // one sign: the ratio of magnitudes
		small, big := math.Abs(s.hi), math.Abs(s.lo)
		if s.lo > 0 {
			small, big = s.lo, s.hi
		}
		if r, ok := safeRatio(big, small, minDen); ok {
			why = fmt.Sprintf("max/min %.1f× > %.1f×", r, factor)
		}
	}
	f.notes = append(f.notes, fmt.Sprintf("%s: %s (%s)", label, shown, why))
	return flagMark
}

// write lists the flagged figures under a table.
func (f *flags) write(w func(string, ...any)) {
	if len(f.notes) == 0 {
		return
	}
	w("\n† Repeats disagree: the figure's max/min over repeats exceeds %.1f× for a p50 latency, %.1f× for queries/s, %.1f× for the throughput at the p99 bound (its median is still shown; read it with care):\n\n",
		latencyDisagreement, throughputDisagreement, boundDisagreement)
	for _, n := range f.notes {
		w("- %s\n", n)
	}
}

package bench

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/e2e/harness"
	"github.com/switchyard-gw/switchyard/e2e/loadgen"
)

// TestSmoke runs the whole benchmark briefly against every target so the
// harness keeps working. It asserts that every target served every run
// without errors and that the report renders; it asserts no timing.
func TestSmoke(t *testing.T) {
	env, err := harness.NewEnv(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			t.Log("\n" + harness.Dump(env.Procs(), 40))
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	r := &Runner{Env: env, Plan: SmokePlan(), Log: testWriter{t}}
	rep, err := r.Execute(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A slow target on a busy machine may finish nothing within one short
	// window (its queries are then aborted, not failed); every target must
	// complete queries over its runs, and no query may fail.
	phases := map[string]int{}
	completed := map[string]int64{}
	for _, run := range rep.Runs {
		res := run.Results
		phases[run.Target+"/"+run.Phase]++
		completed[run.Target] += res.Completed
		if res.Failed != 0 {
			t.Errorf("%s %s: %d failed, errors %v", run.Target, run.Phase, res.Failed, res.Errors)
		}
		if run.Target != Direct && run.Phase == "saturation" && len(res.Processes) == 0 {
			t.Errorf("%s: no process accounting", run.Target)
		}
		if run.Phase == "scale-unprefixed" && res.Latency[loadgen.KindPoll].Count == 0 {
			t.Errorf("unprefixed scale run made no polls")
		}
	}
	for _, target := range AllTargets {
		if completed[target] == 0 {
			t.Errorf("%s completed no query", target)
		}
		for _, phase := range []string{"fixed", "saturation", "curve"} {
			if phases[target+"/"+phase] == 0 {
				t.Errorf("no %s run for %s", phase, target)
			}
		}
	}
	if phases[Switchyard+"/scale"] == 0 || phases[Switchyard+"/scale-unprefixed"] == 0 {
		t.Errorf("scale runs missing: %v", phases)
	}
	md := rep.Markdown("")
	for _, want := range append([]string{"## Goals", "## Scale"}, AllTargets...) {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if os.Getenv("BENCH_SMOKE_SHOW") != "" {
		t.Log("\n" + md)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func TestStripGatewayPrefix(t *testing.T) {
	for in, want := range map[string]string{
		"http://h:1/_sy/c0/0/v1/statement/queued/q/y/1": "http://h:1/v1/statement/queued/q/y/1",
		"http://h:1/v1/statement/queued/q/y/1":          "http://h:1/v1/statement/queued/q/y/1",
		"http://h:1/_sy/c0":                             "http://h:1/_sy/c0",
	} {
		if got := stripGatewayPrefix(in); got != want {
			t.Errorf("%s: got %s", in, got)
		}
	}
}

func TestSummarize(t *testing.T) {
	s := summarize([]float64{3, 1, 2})
	if s.med != 2 || s.lo != 1 || s.hi != 3 || s.format("", 0) != "2 (1–3)" {
		t.Fatalf("%+v %q", s, s.format("", 0))
	}
	if got := summarize([]float64{4}).format(" ms", 1); got != "4.0 ms" {
		t.Fatalf("%q", got)
	}
	if got := summarize(nil).format("", 0); got != "n/a" {
		t.Fatalf("%q", got)
	}
}

// TestDecisionGoal judges the policies goal on the median over runs of
// BenchmarkSubmissionPolicies' p50 on a reused goroutine, and reports the
// whole decision's median per fleet size beside it.
func TestDecisionGoal(t *testing.T) {
	micro := strings.Join([]string{
		"pkg: github.com/switchyard-gw/switchyard/pkg/extproc",
		"BenchmarkPolicyDecision/clusters=1-2   \t 14079\t     84330 ns/op\t  43.13 MB/s",
		"BenchmarkPolicyDecision/clusters=1-2   \t 14079\t     60000 ns/op\t  43.13 MB/s",
		"BenchmarkPolicyDecision/clusters=1-2   \t 14079\t     70000 ns/op\t  43.13 MB/s",
		"BenchmarkPolicyDecision/clusters=100-2 \t 13340\t     89525.5 ns/op\t  40.63 MB/s",
		"BenchmarkSubmitDecision/clusters=1-2   \t 144314\t      7677 ns/op",
		"pkg: github.com/switchyard-gw/switchyard/pkg/policy",
		"BenchmarkSubmissionPolicies/goroutine=reused-2 \t   26409\t     45276 ns/op\t     34646 p50-ns\t   15950 B/op\t     323 allocs/op",
		"BenchmarkSubmissionPolicies/goroutine=fresh-2  \t   26409\t     46276 ns/op\t     20000 p50-ns\t   15950 B/op\t     323 allocs/op",
		"BenchmarkSubmissionPolicies/goroutine=reused-2 \t   26409\t     55276 ns/op\t     44646 p50-ns\t   15950 B/op\t     323 allocs/op",
		"BenchmarkSubmissionPolicies/goroutine=reused-2 \t   26409\t     35276 ns/op\t     38000 p50-ns\t   15950 B/op\t     323 allocs/op",
	}, "\n")
	got := decisionMedians(micro)
	if len(got) != 2 || got[1] != 70000 || got[100] != 89525.5 {
		t.Fatalf("medians %v", got)
	}
	if p, ok := policiesMedian(micro); !ok || p != 38000 {
		t.Fatalf("policies median %v %v, want 38000", p, ok)
	}
	goal := func(micro string) string {
		var b strings.Builder
		rep := &Report{Micro: micro}
		rep.goals(func(f string, a ...any) { fmt.Fprintf(&b, f, a...) })
		return b.String()
	}
	out := goal(micro)
	for _, want := range []string{
		"in at most 40 µs at the median | 38.0 µs | yes |",
		"for reference) | 1 cluster(s): 70 µs; 100 cluster(s): 90 µs |  |",
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("no %q in the goals:\n%s", want, out)
		}
	}
	slow := strings.ReplaceAll(micro, "38000 p50-ns", "41000 p50-ns")
	if out := goal(slow); !strings.Contains(out, "| 41.0 µs | **no** |") {
		t.Fatalf("a median over 40 µs is not judged unmet:\n%s", out)
	}
	if out := goal("pkg: x\nBenchmarkSubmitDecision/clusters=1-2 \t 1\t 1 ns/op"); !strings.Contains(out, "no `BenchmarkSubmissionPolicies/goroutine=reused` line") {
		t.Fatalf("without the policies benchmark:\n%s", out)
	}
	if m := decisionMedians("go test -bench failed: exit status 1"); len(m) != 0 {
		t.Fatalf("medians from no benchmark lines: %v", m)
	}
	if _, ok := policiesMedian("go test -bench failed: exit status 1"); ok {
		t.Fatal("a policies median from no benchmark lines")
	}
}

// TestMetricMedians reads a custom metric of sub-benchmarks.
func TestMetricMedians(t *testing.T) {
	micro := strings.Join([]string{
		"pkg: github.com/switchyard-gw/switchyard/pkg/store",
		"BenchmarkGovernanceQueueDispatch/memory-2 \t 1000\t 1186158 ns/op\t 843.0 admissions/s\t 100 B/op",
		"BenchmarkGovernanceQueueDispatch/memory-2 \t 1000\t 1186158 ns/op\t 900.0 admissions/s",
		"BenchmarkGovernanceQueueDispatch/memory-2 \t 1000\t 1186158 ns/op\t 700.0 admissions/s",
		"BenchmarkGovernanceQueueDispatch/redis-2  \t 1000\t 3732297 ns/op\t 267.9 admissions/s",
		"BenchmarkGovernanceRunning/redis-2        \t 1000\t 558404 ns/op",
	}, "\n")
	got := metricMedians(micro, "admissions/s")
	if len(got) != 2 || got["memory"] != 843 || got["redis"] != 267.9 {
		t.Fatalf("medians %v", got)
	}
}

// Package soak is the availability soak: real Trino, Redis, two
// control-plane replicas and two Envoys, under mixed load from the Python
// client, JDBC and the trino CLI, with a fault every interval in turn
// (kill -9 of a coordinator, a control-plane replica, an Envoy; a Redis
// Sentinel failover when the topology has Sentinel; a blue/green switch,
// a drain and re-activation, a policy reload). Every query's outcome is
// recorded and accounted per fault window, against excuse rules each
// fault states.
//
// By default it runs a short version (about three minutes of load) that
// fails on any hung or lost query, any wrong result and any failure no
// excuse rule covers. `make soak` runs the long version, which writes
// docs/availability.md:
//
//	go test ./e2e/soak -run TestSoak -soak.duration=30m -soak.interval=2m -soak.report=../../docs/availability.md -timeout 40m
package soak

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/e2e/harness"
)

var (
	flagDuration = flag.Duration("soak.duration", 3*time.Minute, "how long the load runs (every fault runs at least once, however short)")
	flagInterval = flag.Duration("soak.interval", 0, "time between two faults (default: the duration divided by the number of faults plus one)")
	flagReport   = flag.String("soak.report", "", "write the report here (the long run: docs/availability.md); by default it goes to the test log and a file in the temp directory")
)

// window is one fault window: from one fault's injection to the next's
// (window 0 is the baseline, with no fault).
type window struct {
	Index      int
	Fault      fault
	Name       string
	Start, End time.Time
	Injected   string
	Recovered  string
	Err        string
}

func TestSoak(tt *testing.T) {
	// Every failure is repeated at the very end of the output (after the
	// process logs), where a CI log that keeps only its tail shows it.
	t := &verdict{TB: tt}
	tt.Cleanup(t.repeat)
	duration := *flagDuration
	dir, err := os.MkdirTemp("", "switchyard-soak-")
	if err != nil {
		t.Fatal(err)
	}
	env, err := harness.NewEnv(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		env.StopAll()
		if t.Failed() {
			t.Logf("soak logs kept in %s", dir)
			return
		}
		_ = os.RemoveAll(dir)
	})
	// The hard deadline: everything (client calls included) ends before
	// the test binary's own timeout.
	hardEnd := time.Now().Add(duration + 20*time.Minute)
	if d, ok := tt.Deadline(); ok && d.Add(-time.Minute).Before(hardEnd) {
		hardEnd = d.Add(-time.Minute)
	}
	hard, cancelHard := context.WithDeadline(context.Background(), hardEnd)
	defer cancelHard()

	setupStart := time.Now()
	topo := buildTopology(t, hard, env)
	t.Cleanup(func() {
		if t.Failed() {
			t.Log("\n" + harness.Dump(topo.procs(), 40))
		}
	})
	logDir := filepath.Join(dir, "clients")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	l := &load{topo: topo, env: env, rec: &recorder{}, logDir: logDir}
	if l.expected, err = expectedResults(hard, l); err != nil {
		t.Fatal(err)
	}
	t.Logf("topology up and expected results taken directly from Trino in %v", time.Since(setupStart).Round(time.Second))

	faults, skipped := topo.faults(0)
	interval := *flagInterval
	if interval <= 0 {
		interval = duration / time.Duration(len(faults)+1)
	}
	hold := min(max(interval/3, 5*time.Second), 30*time.Second)
	faults, _ = topo.faults(hold)
	for _, s := range skipped {
		t.Logf("fault skipped: %s: %s", s.Name, s.Reason)
	}

	loops := soakLoops(duration)
	stopNew, cancelNew := context.WithCancel(hard)
	defer cancelNew()
	watchCtx, stopWatch := context.WithCancel(hard)
	defer stopWatch()
	go topo.watchEnvoys(watchCtx)
	var wg sync.WaitGroup
	for _, lp := range loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.run(stopNew, hard, lp)
		}()
	}

	start, loadStart := time.Now(), loadAvg()
	windows := []*window{{Index: 0, Name: "baseline (no fault)", Start: start}}
	if err := waitHold(hard, interval); err != nil {
		t.Fatal(err)
	}
	for k := 0; k < len(faults) || time.Since(start) < duration; k++ {
		f := faults[k%len(faults)]
		w := &window{Index: k + 1, Fault: f, Name: f.name(), Start: time.Now()}
		windows[len(windows)-1].End = w.Start
		windows = append(windows, w)
		var err error
		if w.Injected, err = f.inject(hard); err != nil {
			w.Err = "inject: " + err.Error()
			t.Errorf("window %d (%s): %s", w.Index, w.Name, w.Err)
		}
		// Recover even when the injection failed half-way (a drain that
		// timed out leaves its cluster draining).
		var rerr error
		if w.Recovered, rerr = f.recover(hard); rerr != nil {
			w.Err = strings.TrimSpace(w.Err + " recover: " + rerr.Error())
			t.Errorf("window %d (%s): recover: %v", w.Index, w.Name, rerr)
		}
		t.Logf("window %d, %s: %s; %s", w.Index, w.Name, w.Injected, w.Recovered)
		if rerr != nil {
			break // the topology is not whole: later windows would measure the wrong thing
		}
		if err := waitHold(hard, time.Until(w.Start.Add(interval))); err != nil {
			t.Errorf("window %d: %v", w.Index, err)
			break
		}
	}
	cancelNew()
	wg.Wait()
	l.lookups.Wait()
	end := time.Now()
	windows[len(windows)-1].End = end
	stopWatch()

	rep := account(l.rec.snapshot(), windows, faults)
	rep.Duration, rep.Interval, rep.Hold = end.Sub(start), interval, hold
	rep.Loops, rep.Skipped, rep.Notes, rep.LoadStart = loops, skipped, l.notes, loadStart
	rep.Topology = []string{
		"2 single-node Trino " + env.Versions["TRINO_VERSION"] + " clusters (a, b; started by the soak, 1 GB heap each, " + strings.Join(trinoExtra, ", ") + ") in one routing group",
		"2 control-plane replicas; " + topo.xdsDesc,
		"2 Envoys " + env.Versions["ENVOY_VERSION"] + "; clients choose one per query (Python) or per batch (CLI) by a TCP health check, JDBC is pinned to envoy2",
		"store: " + topo.storeDesc,
		"policy: the shipped policies, with the soak user (`" + soakUser + "`) among the service users: workload governance admits and releases every query (completions from Trino's HTTP event listener) in the `default` class, whose limits the load stays under",
	}
	md := rep.markdown(env.Root)
	path := *flagReport
	if path == "" {
		path = filepath.Join(os.TempDir(), fmt.Sprintf("switchyard-soak-%s.md", time.Now().Format("20060102-150405")))
	}
	if err := os.WriteFile(path, []byte(md), 0o644); err != nil {
		t.Error(err)
	}
	tsv := filepath.Join(os.TempDir(), fmt.Sprintf("switchyard-soak-%s-outcomes.tsv", time.Now().Format("20060102-150405")))
	if err := os.WriteFile(tsv, []byte(outcomesTSV(rep.All)), 0o644); err != nil {
		t.Error(err)
	}
	t.Logf("report written to %s (every outcome in %s):\n%s", path, tsv, md)
	rep.fail(t)
}

// verdict records every failure of the soak so that repeat can print
// them again last.
type verdict struct {
	testing.TB
	mu   sync.Mutex
	msgs []string
}

func (v *verdict) note(msg string) {
	v.mu.Lock()
	v.msgs = append(v.msgs, msg)
	v.mu.Unlock()
}

func (v *verdict) Error(args ...any) { v.TB.Helper(); v.note(fmt.Sprint(args...)); v.TB.Error(args...) }
func (v *verdict) Errorf(format string, args ...any) {
	v.TB.Helper()
	v.note(fmt.Sprintf(format, args...))
	v.TB.Errorf(format, args...)
}
func (v *verdict) Fatal(args ...any) { v.TB.Helper(); v.note(fmt.Sprint(args...)); v.TB.Fatal(args...) }
func (v *verdict) Fatalf(format string, args ...any) {
	v.TB.Helper()
	v.note(fmt.Sprintf(format, args...))
	v.TB.Fatalf(format, args...)
}

// repeat runs as the test's last cleanup.
func (v *verdict) repeat() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.msgs) > 0 {
		v.TB.Logf("the soak failed (%d failures, repeated here from above):\n  %s", len(v.msgs), strings.Join(v.msgs, "\n  "))
	}
}

// soakLoops is the load: five client loops, each bounded in count.
func soakLoops(d time.Duration) []loop {
	bound := func(pace time.Duration) int { return int(d/pace) + 50 }
	return []loop{
		{name: "py-short", client: "python", mix: []query{qNation, qRegion, qLineitemAgg}, pace: 300 * time.Millisecond, max: bound(300 * time.Millisecond)},
		{name: "py-heavy", client: "python", mix: []query{qOrdersSF1, qLineitemRows, qNation}, pace: time.Second, max: bound(time.Second)},
		{name: "py-txn", client: "python", mix: []query{qTxn, qRegion}, pace: 500 * time.Millisecond, max: bound(500 * time.Millisecond)},
		{name: "jdbc", client: "jdbc", mix: []query{qNation, qLineitemAgg, qRegion, qLineitemRows}, pace: 500 * time.Millisecond, max: bound(500 * time.Millisecond)},
		{name: "cli", client: "cli", mix: cliQueries, pace: 2 * time.Second, max: bound(2*time.Second/cliBatch) + cliBatch},
	}
}

// describe is a loop in words, for the report.
func (lp loop) describe() string {
	var keys []string
	for _, q := range lp.mix {
		keys = append(keys, q.key)
	}
	what := "one query"
	if lp.client == "cli" {
		what = fmt.Sprintf("one CLI process of %d queries", cliBatch)
	}
	return fmt.Sprintf("%s (%s): %s at most every %v, in turn: %s", lp.name, lp.client, what, lp.pace, strings.Join(keys, ", "))
}

package soak

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"
)

// counts are the outcomes of a set of queries.
type counts struct {
	Started, OK, Excused, Unexcused, Hung, Lost, Wrong int
	// OnKilled are the excused failures that ran on a killed coordinator:
	// they leave the availability denominator.
	OnKilled int
	Errors   map[string]int // "NAME" or "NAME (excused)" -> count
	// Took are the durations of the successful queries.
	Took []time.Duration
}

func (c *counts) add(o *outcome) {
	if c.Errors == nil {
		c.Errors = map[string]int{}
	}
	c.Started++
	switch o.Result {
	case resultOK:
		if o.Wrong != "" {
			c.Wrong++
		} else {
			c.OK++
			c.Took = append(c.Took, o.End.Sub(o.Start))
		}
	case resultHung:
		c.Hung++
	case resultLost:
		c.Lost++
	case resultError:
		if o.Excuse != "" {
			c.Excused++
			c.Errors[o.ErrName+" (excused)"]++
			if o.OnKilledCoordinator {
				c.OnKilled++
			}
		} else {
			c.Unexcused++
			c.Errors[o.ErrName]++
		}
	}
}

// availability is succeeded / (all queries not running on a killed
// coordinator).
func (c counts) availability() string {
	d := c.Started - c.OnKilled
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.3f%%", 100*float64(c.OK)/float64(d))
}

// took is the median and the longest duration of the successful queries.
func (c counts) took() string {
	if len(c.Took) == 0 {
		return "-"
	}
	d := append([]time.Duration(nil), c.Took...)
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return fmt.Sprintf("%v / %v", d[len(d)/2].Round(time.Millisecond), d[len(d)-1].Round(time.Millisecond))
}

func (c counts) errorList() string {
	var ks []string
	for k := range c.Errors {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var out []string
	for _, k := range ks {
		out = append(out, fmt.Sprintf("%s ×%d", k, c.Errors[k]))
	}
	if len(out) == 0 {
		return "-"
	}
	return strings.Join(out, ", ")
}

// report is the soak's result.
type report struct {
	Windows  []*window
	Faults   []fault
	PerWin   []counts
	PerFault map[string]*counts
	PerKind  map[string]*counts
	Total    counts
	Bad      []outcome // hung, lost, wrong, unexcused
	Excused  []outcome
	All      []outcome // with excuses applied

	Duration, Interval, Hold time.Duration
	Loops                    []loop
	Skipped                  []skippedFault
	Notes                    []string
	Topology                 []string
	LoadStart                string
}

// account attributes each outcome to the window it ended in, applies
// every fault's excuse rule to each failure, and counts.
func account(all []outcome, windows []*window, faults []fault) *report {
	r := &report{Windows: windows, Faults: faults, PerWin: make([]counts, len(windows)),
		PerFault: map[string]*counts{}, PerKind: map[string]*counts{}}
	for i := range all {
		o := &all[i]
		if o.Result == resultError {
			for _, f := range faults {
				if reason, onKilled := f.excuse(o); reason != "" {
					o.Excuse, o.OnKilledCoordinator = reason, onKilled
					break
				}
			}
		}
		// A query belongs to the window it ended in: one running when a
		// fault was injected was exposed to that fault.
		at := o.End
		if at.IsZero() {
			at = o.Start
		}
		w := 0
		for j, win := range windows {
			if !at.Before(win.Start) {
				w = j
			}
		}
		r.PerWin[w].add(o)
		name := windows[w].Name
		if r.PerFault[name] == nil {
			r.PerFault[name] = &counts{}
		}
		r.PerFault[name].add(o)
		kind := o.Client + "/" + o.Kind
		if r.PerKind[kind] == nil {
			r.PerKind[kind] = &counts{}
		}
		r.PerKind[kind].add(o)
		r.Total.add(o)
		r.All = append(r.All, *o)
		switch {
		case o.Result == resultHung, o.Result == resultLost, o.Wrong != "", o.Result == resultError && o.Excuse == "":
			r.Bad = append(r.Bad, *o)
		case o.Excuse != "":
			r.Excused = append(r.Excused, *o)
		}
	}
	return r
}

// fail fails the test on every hung or lost query, wrong result and
// failure no excuse rule covers.
func (r *report) fail(t testing.TB) {
	t.Helper()
	for i, o := range r.Bad {
		if i == 40 {
			t.Errorf("... and %d more", len(r.Bad)-i)
			break
		}
		switch {
		case o.Result == resultHung:
			t.Errorf("hung: %s", o.String())
		case o.Result == resultLost:
			t.Errorf("lost: %s", o.String())
		case o.Wrong != "":
			t.Errorf("wrong result: %s", o.String())
		default:
			t.Errorf("failure no excuse rule covers: %s", o.String())
		}
	}
	for _, lp := range r.Loops {
		if r.PerKind == nil {
			break
		}
		n := 0
		for k, c := range r.PerKind {
			if strings.HasPrefix(k, lp.client+"/") {
				n += c.Started
			}
		}
		if n == 0 {
			t.Errorf("the %s client ran no query", lp.client)
		}
	}
	for i, c := range r.PerWin {
		if c.Started == 0 {
			t.Errorf("no query ended in window %d (%s): the load stalled", i, r.Windows[i].Name)
		}
	}
}

func (r *report) markdown(root string) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p("# Availability under faults")
	p("")
	p("Written by `make soak` (`go test ./e2e/soak -run TestSoak -soak.duration=… -soak.interval=… -soak.report=…`); do not edit by hand.")
	p("")
	p("- Date: %s", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	p("- Commit: %s", commit(root))
	p("- Machine: %s", machine())
	p("- Load average (1, 5, 15 min) at the start of the load: %s; at the end: %s", r.LoadStart, loadAvg())
	p("- Load ran for %v; a fault every %v (a kill holds %v before the restart)", r.Duration.Round(time.Second), r.Interval, r.Hold)
	p("")
	p("## Topology")
	p("")
	for _, s := range r.Topology {
		p("- %s", s)
	}
	p("")
	p("## Load")
	p("")
	p("Every client runs with no retries of its own (the Python client with `max_attempts=1`); each loop runs its queries one after another, bounded in time and count:")
	p("")
	for _, lp := range r.Loops {
		p("- %s", lp.describe())
	}
	p("")
	p("Queries: short (tpch.tiny aggregates and small scans), long (an aggregation over tpch.sf1.orders, 1.5 M rows), large (60,175 rows of tpch.tiny.lineitem, many pages), txn (three statements in START TRANSACTION … COMMIT). Every result is checked against the same client's run of the query directly on Trino (row count and digest).")
	p("")
	p("## Per fault")
	p("")
	p("A query is counted in the window it ended in (a hung query ends at its bound, a lost one when its client was found dead), so a query running when a fault was injected counts for that fault. Availability = succeeded / (all queries not running on a killed coordinator).")
	p("")
	p("| fault | windows | queries | succeeded | failed, excused | failed, not excused | hung | lost | wrong | availability | errors |")
	p("|---|---|---|---|---|---|---|---|---|---|---|")
	var names []string
	seen := map[string]bool{}
	for _, w := range r.Windows {
		if !seen[w.Name] {
			seen[w.Name] = true
			names = append(names, w.Name)
		}
	}
	for _, n := range names {
		c := r.PerFault[n]
		if c == nil {
			c = &counts{}
		}
		nw := 0
		for _, w := range r.Windows {
			if w.Name == n {
				nw++
			}
		}
		p("| %s | %d | %d | %d | %d | %d | %d | %d | %d | %s | %s |", n, nw, c.Started, c.OK, c.Excused, c.Unexcused, c.Hung, c.Lost, c.Wrong, c.availability(), c.errorList())
	}
	for _, s := range r.Skipped {
		p("| %s | 0 | skipped: %s | | | | | | | | |", s.Name, s.Reason)
	}
	t := r.Total
	p("| **total** | %d | %d | %d | %d | %d | %d | %d | %d | **%s** | %s |", len(r.Windows), t.Started, t.OK, t.Excused, t.Unexcused, t.Hung, t.Lost, t.Wrong, t.availability(), t.errorList())
	p("")
	if len(r.Skipped) > 0 {
		p("Skipped faults:")
		p("")
		for _, s := range r.Skipped {
			p("- %s: %s", s.Name, s.Reason)
		}
		p("")
	}
	p("## Per window")
	p("")
	p("Times are UTC; a window runs from its start to the next window's.")
	p("")
	p("| # | fault | start | what was done | queries | ok | excused | not excused | hung | lost | wrong |")
	p("|---|---|---|---|---|---|---|---|---|---|---|")
	for i, w := range r.Windows {
		c := r.PerWin[i]
		what := strings.TrimSpace(w.Injected + "; " + w.Recovered)
		if w.Err != "" {
			what += " FAILED: " + w.Err
		}
		if w.Fault == nil {
			what = "-"
		}
		p("| %d | %s | %s (+%v) | %s | %d | %d | %d | %d | %d | %d | %d |", w.Index, w.Name, w.Start.UTC().Format("15:04:05.000"), w.Start.Sub(r.Windows[0].Start).Round(time.Second),
			strings.ReplaceAll(what, "|", "/"), c.Started, c.OK, c.Excused, c.Unexcused, c.Hung, c.Lost, c.Wrong)
	}
	p("")
	p("## Per client and kind")
	p("")
	p("Durations are those of successful queries, as the soak saw them (client process round trip; a CLI query's includes the CLI's own work, the first of a batch its JVM start).")
	p("")
	p("| client/kind | queries | succeeded | failed, excused | failed, not excused | hung | lost | wrong | median / longest |")
	p("|---|---|---|---|---|---|---|---|---|")
	var kinds []string
	for k := range r.PerKind {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		c := r.PerKind[k]
		p("| %s | %d | %d | %d | %d | %d | %d | %d | %s |", k, c.Started, c.OK, c.Excused, c.Unexcused, c.Hung, c.Lost, c.Wrong, c.took())
	}
	p("")
	p("## Excuse rules")
	p("")
	p("A failure is excused only by a rule below; everything else (and every hung or lost query, and every wrong result) counts against the run, and fails the short soak in `make test`. Each failed query is checked against every fault injected in the run, by time, so a query started in one window and killed by the next fault is still covered.")
	p("")
	p("- Hung: no end within the query's bound (short 1 min, txn 90 s, large 2 min, long 3 min), or the client's own request timeout (30 s) fired. Lost: the client process ended without reporting the query. Neither is ever excused.")
	ruled := map[string]bool{}
	for _, f := range r.Faults {
		if !ruled[f.name()] {
			ruled[f.name()] = true
			p("- %s: %s.", f.name(), f.rule())
		}
	}
	p("")
	if len(r.Bad) > 0 {
		p("## Failures that count against the run")
		p("")
		for i, o := range r.Bad {
			if i == 60 {
				p("- … and %d more", len(r.Bad)-i)
				break
			}
			p("- %s", strings.ReplaceAll(o.String(), "|", "/"))
		}
		p("")
	}
	if len(r.Excused) > 0 {
		p("## Excused failures")
		p("")
		for i, o := range r.Excused {
			if i == 30 {
				p("- … and %d more", len(r.Excused)-i)
				break
			}
			p("- %s — %s", strings.ReplaceAll(o.String(), "|", "/"), o.Excuse)
		}
		p("")
	}
	if len(r.Notes) > 0 {
		p("## Client notes")
		p("")
		for _, n := range r.Notes {
			p("- %s", n)
		}
		p("")
	}
	return b.String()
}

// outcomesTSV is every outcome, one line each, for a closer look.
func outcomesTSV(all []outcome) string {
	var b strings.Builder
	b.WriteString("id\tclient\tkind\tkey\tenvoy\tstart\tend\tcluster\tcoordinator\tresult\terror\texcuse\twrong\tquery_ids\tmessage\n")
	for _, o := range all {
		fmt.Fprintf(&b, "%d\t%s\t%s\t%s\tenvoy%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", o.ID, o.Client, o.Kind, o.Key, o.Envoy+1,
			o.Start.UTC().Format("15:04:05.000"), o.End.UTC().Format("15:04:05.000"), o.Cluster, o.Coordinator, o.Result, o.ErrName,
			o.Excuse, o.Wrong, strings.Join(o.QueryIDs, ","), strings.ReplaceAll(o.ErrMsg, "\t", " "))
	}
	return b.String()
}

// commit is the checked-out commit, marked when the tree has changes.
func commit(root string) string {
	out, err := exec.Command("git", "-C", root, "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(strings.TrimSpace(string(st))) > 0 {
		c += " (with uncommitted changes)"
	}
	return c
}

// loadAvg is the machine's load average from /proc/loadavg.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], ", ")
}

// machine describes the CPU and memory from /proc.
func machine() string {
	model, cpus := "unknown CPU", 0
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(l, ":")
			if !ok {
				continue
			}
			switch strings.TrimSpace(k) {
			case "model name":
				model = strings.TrimSpace(v)
			case "processor":
				cpus++
			}
		}
	}
	mem := "unknown memory"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "MemTotal:"); ok {
				var kb int
				if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb); err == nil {
					mem = fmt.Sprintf("%.1f GiB memory", float64(kb)/(1<<20))
				}
			}
		}
	}
	return fmt.Sprintf("%s, %d CPUs, %s, %s/%s", model, cpus, mem, runtime.GOOS, runtime.GOARCH)
}

package policy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/store"
)

func bundle(files map[string]string) *Bundle {
	b := &Bundle{Files: map[string][]byte{}}
	for n, c := range files {
		b.Files[n] = []byte(c)
	}
	return b
}

const simple = `package switchyard.routing
import rego.v1
default allow := true
allow := false if input.request.user == "mallory"
decision := {"allow": allow, "reason": "mallory is blocked", "routingGroup": data.switchyard.settings.group, "explanation": ["simple"]}
`

const simpleTest = `package switchyard.routing_test
import rego.v1
import data.switchyard.routing
test_mallory if not routing.decision.allow with input as {"request": {"user": "mallory"}}
`

// shipped compiles the policy in policies/ (its Rego tests included).
func shipped(t *testing.T) *Compiled {
	t.Helper()
	b, err := LoadDir("../../policies")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Compile(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestShippedPolicyCompilesAndPassesItsTests(t *testing.T) {
	c := shipped(t)
	if c.Tests.Passed < 15 || c.authz == nil || c.Tables["tpch.tiny.customer"] == nil {
		t.Fatalf("tests %+v, authz %v, tables %v", c.Tests, c.authz != nil, c.Tables)
	}
}

// TestShippedPolicyThroughTheEngine checks the serving path (the prepared
// query, the input built as OPA values) against what the Rego tests say of
// the shipped policy: an evaluation shortcut that changes results fails here.
func TestShippedPolicyThroughTheEngine(t *testing.T) {
	e := NewEngine(shipped(t), nil)
	fleet := FleetInfo{
		DefaultGroup: "adhoc",
		Groups: map[string]GroupInfo{
			"adhoc": {Clusters: []string{"a"}}, "etl": {Clusters: []string{"e"}}, "sandbox": {Clusters: []string{"s"}},
			"agents": {Clusters: []string{"g"}}, "secure": {Clusters: []string{"v"}},
		},
		Clusters: map[string]ClusterInfo{
			"a": {Group: "adhoc", Healthy: true}, "e": {Group: "etl", Healthy: true}, "s": {Group: "sandbox", Healthy: true},
			"g": {Group: "agents", Healthy: true}, "v": {Group: "secure", Healthy: true, Tags: []string{"secure"}},
		},
	}
	fv := NewFleetValue(fleet)
	pii := map[string]any{"tpch.tiny.customer": map[string]any{"tags": []any{"pii"}}}
	for _, tc := range []struct {
		name  string
		req   RequestInfo
		query QueryInfo
		want  string // allow, group, cluster list, headers and explanation, as printed below
	}{
		{"default", RequestInfo{User: "alice", Source: "trino-cli"}, QueryInfo{Type: "SELECT"},
			"allow=true reason= group= clusters=[] headers=map[] explanation=[]"},
		{"etl source", RequestInfo{User: "alice", Source: "airflow"}, QueryInfo{Type: "SELECT"},
			"allow=true reason= group=etl clusters=[] headers=map[] explanation=[source airflow is an ETL tool]"},
		{"header honoured", RequestInfo{User: "alice", RoutingGroup: "sandbox"}, QueryInfo{Type: "SELECT"},
			"allow=true reason= group=sandbox clusters=[] headers=map[] explanation=[X-Trino-Routing-Group asks for sandbox]"},
		{"reserved group", RequestInfo{User: "alice", RoutingGroup: "etl"}, QueryInfo{Type: "SELECT"},
			"allow=false reason=user alice may not use routing group etl (X-Trino-Routing-Group) group= clusters=[] headers=map[] explanation=[]"},
		{"agent writes", RequestInfo{User: "bot", Source: "sql-agent", ClientTags: []string{"x"}}, QueryInfo{Type: "INSERT"},
			"allow=false reason=AI agents may not change data group=agents clusters=[] headers=map[X-Trino-Client-Tags:x,ai-agent X-Trino-Session:query_max_run_time=5m] " +
				"explanation=[AI agent: query_max_run_time set, tagged ai-agent source sql-agent is an AI agent]"},
		{"pii", RequestInfo{User: "alice", RoutingGroup: "sandbox"}, QueryInfo{Type: "SELECT", Tables: []string{"tpch.tiny.customer"}, TableInfo: pii},
			"allow=true reason= group=secure clusters=[v] headers=map[] explanation=[only clusters tagged secure: v reads pii tables: tpch.tiny.customer]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := &Input{Request: tc.req, Query: tc.query, Fleet: fleet, FleetValue: &fv, Time: time.Now()}
			d, err := e.Decide(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			got := fmt.Sprintf("allow=%v reason=%s group=%s clusters=%v headers=%v explanation=%v", d.Allow, d.Reason, d.RoutingGroup, d.Clusters, d.Headers, d.Explanation)
			if got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestDecide(t *testing.T) {
	c, err := Compile(context.Background(), bundle(map[string]string{
		"r.rego": simple, "r_test.rego": simpleTest, "data.yaml": "switchyard:\n  settings:\n    group: etl\n",
	}))
	if err != nil {
		t.Fatal(err)
	}
	e := NewEngine(c, nil)
	d, err := e.Decide(context.Background(), &Input{Request: RequestInfo{User: "alice"}})
	if err != nil || !d.Allow || d.RoutingGroup != "etl" || d.Explanation[0] != "simple" || d.Policy != c.Version {
		t.Fatalf("%+v %v", d, err)
	}
	d, _ = e.Decide(context.Background(), &Input{Request: RequestInfo{User: "mallory"}})
	if d.Allow || d.Reason != "mallory is blocked" {
		t.Fatalf("%+v", d)
	}
	// No authz package: everything allowed.
	if a, err := e.Authorize(context.Background(), &AuthzInput{}); err != nil || !a.Allow {
		t.Fatalf("%+v %v", a, err)
	}
}

func TestRefusals(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"syntax", map[string]string{"r.rego": "package switchyard.routing\ndecision := {"}, "r.rego:"},
		{"failing test", map[string]string{"r.rego": simple, "t.rego": strings.Replace(simpleTest, "not routing", "routing", 1)}, "test switchyard.routing_test.test_mallory failed"},
		{"no decision rule", map[string]string{"r.rego": "package switchyard.routing\nimport rego.v1\nx := 1\n"}, "no rule data.switchyard.routing.decision"},
		{"bad data", map[string]string{"r.rego": simple, "data.json": "[1,2]"}, "data.json: a data document must be an object"},
		{"unsafe var", map[string]string{"r.rego": "package switchyard.routing\nimport rego.v1\ndecision := x if { y := 1 }\n"}, "var x is unsafe"},
		{"no rego", map[string]string{"data.json": "{}"}, "no Rego module"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(context.Background(), bundle(tt.files))
			var ce *CompileError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want a CompileError containing %q", err, tt.want)
			}
		})
	}
}

// A policy whose decision conflicts at run time fails closed with a
// readable error.
func TestRunTimeErrorFailsClosed(t *testing.T) {
	c, err := Compile(context.Background(), bundle(map[string]string{"r.rego": `package switchyard.routing
import rego.v1
decision := {"allow": true} if input.request.user != ""
decision := {"allow": false} if input.request.source != ""
`}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewEngine(c, nil).Decide(context.Background(), &Input{Request: RequestInfo{User: "a", Source: "b"}})
	if !errors.Is(err, ErrPolicy) || !strings.Contains(err.Error(), "conflict") {
		t.Fatalf("got %v", err)
	}
	c2, _ := Compile(context.Background(), bundle(map[string]string{"r.rego": "package switchyard.routing\nimport rego.v1\ndecision := {\"allow\": \"yes\"}\n"}))
	if _, err := NewEngine(c2, nil).Decide(context.Background(), &Input{}); !errors.Is(err, ErrPolicy) || !strings.Contains(err.Error(), "decision.allow must be a boolean") {
		t.Fatalf("got %v", err)
	}
}

// TestDecisionShape: a decision of the wrong shape fails closed with a
// message naming the field; sets and arrays of strings both work.
func TestDecisionShape(t *testing.T) {
	for _, tc := range []struct{ decision, want string }{
		{`"yes"`, "data.switchyard.routing.decision is not an object"},
		{`{"allow": true, "routingGroup": 3}`, "decision.routingGroup must be a string"},
		{`{"allow": true, "clusters": "a"}`, "decision.clusters must be an array of strings"},
		{`{"allow": true, "explanation": [1]}`, "decision.explanation must be an array of strings"},
		{`{"allow": true, "headers": ["a"]}`, "decision.headers must be an object of strings"},
		{`{"allow": true, "headers": {"X-A": 1}}`, `decision.headers["X-A"] must be a string`},
		{`{"allow": true, "reason": null, "clusters": {"b", "a"}, "explanation": ["y", "x"], "headers": {"X-A": "1"}}`, ""},
	} {
		c, err := Compile(context.Background(), bundle(map[string]string{"r.rego": "package switchyard.routing\nimport rego.v1\ndecision := " + tc.decision + "\n"}))
		if err != nil {
			t.Fatal(err)
		}
		d, err := NewEngine(c, nil).Decide(context.Background(), &Input{})
		if tc.want == "" {
			if err != nil || !d.Allow || d.Reason != "" || fmt.Sprint(d.Clusters, d.Explanation, d.Headers) != "[a b] [x y] map[X-A:1]" {
				t.Fatalf("%s: %+v %v", tc.decision, d, err)
			}
			continue
		}
		if !errors.Is(err, ErrPolicy) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.decision, err, tc.want)
		}
	}
}

// Replace swaps atomically: every decision made while policies are swapped
// is the answer of a policy that was in use during that decision (the one
// before a swap or the one after it), its Policy version names the policy
// whose content it carries, and a refused policy leaves the old one
// serving. Each swap installs a policy with its own answer, so a decision
// from a stale, future or half-swapped policy cannot pass for a good one.
func TestReplaceIsAtomic(t *testing.T) {
	const (
		swaps   = 20
		workers = 4
		// minPerPolicy decisions are required under every policy swapped in
		// (the swapper waits for them), so the workers decide during the
		// swaps and not only before or after them.
		minPerPolicy = 3
	)
	mk := func(i int) *Bundle {
		return bundle(map[string]string{"r.rego": fmt.Sprintf("package switchyard.routing\nimport rego.v1\ndecision := {\"routingGroup\": \"g%d\"}\n", i)})
	}
	// versions[i] is the version of policy i, whose answer is group gi.
	versions := make([]string, swaps+1)
	group := map[string]string{}
	seen := map[string]*atomic.Int64{}
	for i := range versions {
		versions[i] = mk(i).Version()
		group[versions[i]] = fmt.Sprintf("g%d", i)
		seen[versions[i]] = new(atomic.Int64)
	}
	if len(seen) != len(versions) {
		t.Fatal("two test policies share a version")
	}
	c, err := Compile(context.Background(), mk(0))
	if err != nil {
		t.Fatal(err)
	}
	e := NewEngine(c, nil)

	// installed is the index of the last policy Replace has returned for;
	// installing is the index of the policy being swapped in. A decision
	// that starts after installed == i and ends before installing > j must
	// come from one of the policies i..j.
	var installed, installing atomic.Int64
	var (
		mu       sync.Mutex
		failures []string
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(failures) < 10 {
			failures = append(failures, fmt.Sprintf(format, args...))
		}
	}
	var total atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				lo := installed.Load()
				d, err := e.Decide(context.Background(), &Input{})
				hi := installing.Load()
				total.Add(1)
				if err != nil {
					fail("decision failed during a swap: %v", err)
					continue
				}
				want, known := group[d.Policy]
				if !known {
					fail("decision from unknown policy version %q: %+v", d.Policy, d)
					continue
				}
				if d.RoutingGroup != want {
					fail("decision names policy %s, whose answer is group %q, but answers group %q", d.Policy, want, d.RoutingGroup)
					continue
				}
				seen[d.Policy].Add(1)
				if i := slices.Index(versions, d.Policy); int64(i) < lo || int64(i) > hi {
					fail("decision from policy %d (group %s) while only policies %d..%d were in use", i, d.RoutingGroup, lo, hi)
				}
			}
		})
	}
	// waitFor waits until n decisions were made under version v.
	waitFor := func(v string, n int64) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for seen[v].Load() < n {
			if time.Now().After(deadline) {
				close(stop)
				wg.Wait()
				t.Fatalf("only %d decisions under policy %s within 10s, want %d", seen[v].Load(), group[v], n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitFor(versions[0], minPerPolicy)
	for i := 1; i <= swaps; i++ {
		installing.Store(int64(i))
		if _, err := e.Replace(context.Background(), mk(i)); err != nil {
			t.Fatal(err)
		}
		installed.Store(int64(i))
		if _, err := e.Replace(context.Background(), bundle(map[string]string{"r.rego": "broken"})); err == nil {
			t.Fatal("a broken policy was accepted")
		}
		if got := e.Current().Version; got != versions[i] {
			t.Fatalf("after a refused policy the engine serves %s, want policy g%d (%s)", got, i, versions[i])
		}
		waitFor(versions[i], minPerPolicy)
	}
	close(stop)
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	if got := e.Refused.Load(); got != swaps {
		t.Errorf("refused %d policies, want %d", got, swaps)
	}
	var counted int64
	for i, v := range versions {
		n := seen[v].Load()
		counted += n
		if n < minPerPolicy {
			t.Errorf("policy g%d made %d decisions, want at least %d", i, n, minPerPolicy)
		}
	}
	if n := total.Load(); counted != n || n < int64(len(versions)*minPerPolicy) {
		t.Errorf("%d decisions made, %d of them by a known policy; want all of them and at least %d", n, counted, len(versions)*minPerPolicy)
	}
	t.Logf("%d decisions during %d swaps", total.Load(), swaps)
}

func TestPublishAndSync(t *testing.T) {
	st := store.NewMemory().Documents
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, b := NewEngine(nil, nil), NewEngine(nil, nil)
	go b.Sync(ctx, st, 10*time.Millisecond)
	if _, err := a.Publish(ctx, st, bundle(map[string]string{"r.rego": simple, "d.json": `{"switchyard":{"settings":{"group":"g1"}}}`})); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for b.Current() == nil || b.Current().Version != a.Current().Version {
		if time.Now().After(deadline) {
			t.Fatal("the other replica did not apply the published policy")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := a.Publish(ctx, st, bundle(map[string]string{"r.rego": "nope"})); err == nil {
		t.Fatal("published a broken policy")
	}
	got, err := LoadPublished(ctx, st)
	if err != nil || got.Version() != a.Current().Version {
		t.Fatalf("published %v %v", got, err)
	}
}

func TestWatchReloadsAndKeepsServingOnError(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) {
		if err := writeFile(dir+"/r.rego", body); err != nil {
			t.Fatal(err)
		}
	}
	write(strings.Replace(simple, "data.switchyard.settings.group", `"g1"`, 1))
	b, _ := LoadDir(dir)
	c, err := Compile(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	e := NewEngine(c, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go e.Watch(ctx, dir, 10*time.Millisecond)
	first := e.Current().Version
	write("package switchyard.routing\nthis is not rego")
	write2 := strings.Replace(simple, "data.switchyard.settings.group", `"g2"`, 1)
	deadline := time.Now().Add(5 * time.Second)
	for e.Refused.Load() == 0 { // the watcher saw the broken file and refused it
		if time.Now().After(deadline) {
			t.Fatal("the broken file was not noticed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if e.Current().Version != first {
		t.Fatal("a broken file replaced the policy")
	}
	write(write2)
	deadline = time.Now().Add(5 * time.Second)
	for e.Current().Version == first {
		if time.Now().After(deadline) {
			t.Fatal("the fixed file was not loaded")
		}
		time.Sleep(5 * time.Millisecond)
	}
	d, _ := e.Decide(context.Background(), &Input{})
	if d.RoutingGroup != "g2" {
		t.Fatalf("%+v", d)
	}
}

func TestDecisionLog(t *testing.T) {
	l := NewDecisionLog(3)
	for i := range 5 {
		l.Add(&LogEntry{ID: string(rune('a' + i))})
	}
	got := l.Recent(10)
	if len(got) != 3 || got[0].ID != "e" || got[2].ID != "c" {
		t.Fatalf("%+v", got)
	}
}

// A policy published after a replica read the store at its start, but
// before its sync loop began, is still applied (the loop's first poll
// does not take it for the one in use).
func TestSyncAppliesAPolicyPublishedBeforeItStarted(t *testing.T) {
	st := store.NewMemory().Documents
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, b := NewEngine(nil, nil), NewEngine(nil, nil)
	if _, err := a.Publish(ctx, st, bundle(map[string]string{"r.rego": simple, "d.json": `{"switchyard":{"settings":{"group":"g1"}}}`})); err != nil {
		t.Fatal(err)
	}
	go b.Sync(ctx, st, 10*time.Millisecond)
	deadline := time.Now().Add(5 * time.Second)
	for b.Current() == nil || b.Current().Version != a.Current().Version {
		if time.Now().After(deadline) {
			t.Fatal("the replica did not apply the policy published before its sync loop began")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The shipped routing policy stands without governance.rego (workload
// governance off): it compiles, and its plain and full paths decide
// without a class. (The plain path once named governance.rego's rules from
// routing.rego, and a bundle without them was refused.)
func TestShippedPolicyWithoutGovernance(t *testing.T) {
	b, err := LoadDir("../../policies")
	if err != nil {
		t.Fatal(err)
	}
	for name := range b.Files {
		if strings.HasPrefix(name, "governance") {
			delete(b.Files, name)
		}
	}
	c, err := Compile(context.Background(), b)
	if err != nil {
		t.Fatalf("the shipped policy without governance.rego: %v", err)
	}
	e := NewEngine(c, nil)
	fi := FleetInfo{DefaultGroup: "adhoc", Groups: map[string]GroupInfo{"adhoc": {Clusters: []string{"a"}}, "etl": {Clusters: []string{"e"}}},
		Clusters: map[string]ClusterInfo{"a": {Group: "adhoc", Healthy: true}, "e": {Group: "etl", Healthy: true}}}
	fv := NewFleetValue(fi)
	for _, source := range []string{"cli", "airflow"} { // plain, then an ETL source (the full path)
		d, err := e.Decide(context.Background(), &Input{Request: RequestInfo{User: "alice", Source: source}, Query: QueryInfo{Type: "SELECT"}, Fleet: fi, FleetValue: &fv, Time: time.Now()})
		if err != nil || !d.Allow || d.Class != "" {
			t.Fatalf("source %s: %+v, %v; want allowed without a class", source, d, err)
		}
	}
}

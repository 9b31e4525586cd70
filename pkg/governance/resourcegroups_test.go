package governance

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata/resource-groups/out (and delete stale ones)")

// goldenInputs lists testdata/resource-groups/in/*.json: governance
// documents (the value at data.switchyard.governance).
func goldenInputs(t *testing.T) []string {
	t.Helper()
	inputs, _ := filepath.Glob(filepath.Join("testdata", "resource-groups", "in", "*.json"))
	if len(inputs) == 0 {
		t.Fatal("no golden inputs")
	}
	return inputs
}

func parseFile(t *testing.T, path string) *Config {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRenderResourceGroupsGolden: testdata/resource-groups/in/<case>.json
// gives testdata/resource-groups/out/<case>.json.
func TestRenderResourceGroupsGolden(t *testing.T) {
	written := map[string]bool{}
	for _, in := range goldenInputs(t) {
		name := strings.TrimSuffix(filepath.Base(in), ".json")
		out := filepath.Join("testdata", "resource-groups", "out", name+".json")
		written[out] = true
		t.Run(name, func(t *testing.T) {
			got, err := RenderResourceGroups(parseFile(t, in))
			if err != nil {
				t.Fatal(err)
			}
			if *updateGolden {
				if err := os.WriteFile(out, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(out)
			if err != nil {
				t.Fatalf("%v (run go test ./pkg/governance -run TestRenderResourceGroupsGolden -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the rendering (run go test ./pkg/governance -run TestRenderResourceGroupsGolden -update and review the diff):\n%s", out, got)
			}
		})
	}
	outs, _ := filepath.Glob(filepath.Join("testdata", "resource-groups", "out", "*.json"))
	for _, o := range outs {
		if !written[o] {
			if *updateGolden {
				_ = os.Remove(o)
			} else {
				t.Errorf("stale golden file %s (run with -update)", o)
			}
		}
	}
}

// TestRenderResourceGroupsStable renders the same definitions many times:
// map order must not leak into the output.
func TestRenderResourceGroupsStable(t *testing.T) {
	for _, in := range goldenInputs(t) {
		c := parseFile(t, in)
		first, err := RenderResourceGroups(c)
		if err != nil {
			t.Fatal(err)
		}
		for range 20 {
			if again, _ := RenderResourceGroups(parseFile(t, in)); !bytes.Equal(first, again) {
				t.Fatalf("%s: two renderings differ:\n%s\n---\n%s", in, first, again)
			}
		}
	}
}

// The rendered document, read back.
type (
	testManager struct {
		RootGroups     []*testGroup   `json:"rootGroups"`
		Selectors      []testSelector `json:"selectors"`
		CPUQuotaPeriod string         `json:"cpuQuotaPeriod"`
	}
	testGroup struct {
		Name                 string       `json:"name"`
		SoftMemoryLimit      string       `json:"softMemoryLimit"`
		HardConcurrencyLimit *int         `json:"hardConcurrencyLimit"`
		SoftConcurrencyLimit *int         `json:"softConcurrencyLimit"`
		MaxQueued            *int         `json:"maxQueued"`
		SchedulingPolicy     string       `json:"schedulingPolicy"`
		SchedulingWeight     *int         `json:"schedulingWeight"`
		SoftCPULimit         string       `json:"softCpuLimit"`
		HardCPULimit         string       `json:"hardCpuLimit"`
		SubGroups            []*testGroup `json:"subGroups"`
	}
	testSelector struct {
		ClientTags []string `json:"clientTags"`
		Group      string   `json:"group"`
	}
)

func render(t *testing.T, c *Config) *testManager {
	t.Helper()
	b, err := RenderResourceGroups(c)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields() // Trino's file manager refuses unknown fields too
	var m testManager
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	return &m
}

// find returns the group at a dotted path ("switchyard.etl.${USER}").
func (m *testManager) find(path string) *testGroup {
	groups := m.RootGroups
	var g *testGroup
	for _, seg := range strings.Split(path, ".") {
		g = nil
		for _, c := range groups {
			if c.Name == seg {
				g = c
			}
		}
		if g == nil {
			return nil
		}
		groups = g.SubGroups
	}
	return g
}

// TestRenderedTreeIsValidForTrino checks every rendering against the rules
// of Trino 476's file resource group manager (ResourceGroupSpec,
// ManagerSpec, AbstractResourceConfigurationManager, InternalResourceGroup):
// every selector's group exists and is a leaf, and the tree passes
// Trino's checks.
func TestRenderedTreeIsValidForTrino(t *testing.T) {
	for _, in := range goldenInputs(t) {
		t.Run(filepath.Base(in), func(t *testing.T) {
			c := parseFile(t, in)
			m := render(t, c)
			if len(m.RootGroups) != 1 {
				t.Fatalf("%d root groups, want 1", len(m.RootGroups))
			}
			for i, s := range m.Selectors {
				g := m.find(s.Group)
				switch {
				case g == nil:
					t.Errorf("selector %d: group %q does not exist", i, s.Group)
				case len(g.SubGroups) > 0:
					t.Errorf("selector %d: group %q is not a leaf (Trino cannot add queries to it)", i, s.Group)
				}
			}
			// One selector a class on its tag, in priority order, then a
			// catch-all.
			tagged := map[string]bool{}
			prio := 101
			for _, s := range m.Selectors[:len(m.Selectors)-1] {
				if len(s.ClientTags) != 1 || !strings.HasPrefix(s.ClientTags[0], ClientTagPrefix) {
					t.Fatalf("selector %+v does not match one class tag", s)
				}
				class := strings.TrimPrefix(s.ClientTags[0], ClientTagPrefix)
				cl, ok := c.Classes[class]
				if !ok || tagged[class] {
					t.Fatalf("selector %+v: unknown or repeated class", s)
				}
				if cl.Priority > prio {
					t.Errorf("selector for %s (priority %d) after one of priority %d", class, cl.Priority, prio)
				}
				prio = cl.Priority
				tagged[class] = true
			}
			if len(tagged) != len(c.Classes) {
				t.Errorf("selectors for %d classes, want %d", len(tagged), len(c.Classes))
			}
			if last := m.Selectors[len(m.Selectors)-1]; len(last.ClientTags) != 0 {
				t.Errorf("the last selector %+v has conditions, want a catch-all", last)
			}
			cpu := false
			var walk func(g *testGroup, parentPolicy string)
			walk = func(g *testGroup, parentPolicy string) {
				if g.Name == "" || strings.Contains(g.Name, ".") {
					t.Errorf("group name %q", g.Name)
				}
				if g.HardConcurrencyLimit == nil || g.MaxQueued == nil {
					t.Errorf("group %s lacks hardConcurrencyLimit or maxQueued", g.Name)
					return
				}
				if g.SoftConcurrencyLimit != nil && *g.SoftConcurrencyLimit > *g.HardConcurrencyLimit {
					t.Errorf("group %s: softConcurrencyLimit above hardConcurrencyLimit", g.Name)
				}
				if _, err := memoryLimit(g.SoftMemoryLimit); err != nil {
					t.Errorf("group %s: softMemoryLimit: %v", g.Name, err)
				}
				if g.SoftCPULimit != "" && g.HardCPULimit == "" {
					t.Errorf("group %s: a soft CPU limit without a hard one", g.Name)
				}
				cpu = cpu || g.SoftCPULimit != "" || g.HardCPULimit != ""
				if parentPolicy == SchedulingQueryPriority && g.SchedulingPolicy != SchedulingQueryPriority {
					t.Errorf("group %s: its parent uses query_priority, so must it", g.Name)
				}
				names := map[string]bool{}
				weights := 0
				for _, s := range g.SubGroups {
					if names[s.Name] {
						t.Errorf("group %s: duplicated subgroup %s", g.Name, s.Name)
					}
					names[s.Name] = true
					if s.SchedulingWeight != nil {
						weights++
						if *s.SchedulingWeight <= 0 {
							t.Errorf("group %s: weight must be positive", s.Name)
						}
					}
				}
				switch g.SchedulingPolicy {
				case SchedulingWeighted, SchedulingWeightedFair:
					if weights != 0 && weights != len(g.SubGroups) {
						t.Errorf("group %s: weights on some subgroups only", g.Name)
					}
				default: // fair, query_priority
					if weights != 0 {
						t.Errorf("group %s: weights under a %q group", g.Name, g.SchedulingPolicy)
					}
				}
				for _, s := range g.SubGroups {
					walk(s, g.SchedulingPolicy)
				}
			}
			walk(m.RootGroups[0], "")
			if cpu && m.CPUQuotaPeriod == "" {
				t.Error("CPU limits without cpuQuotaPeriod")
			}
		})
	}
}

// TestRenderResourceGroupsDefaults checks the values derived from the
// gateway's limits.
func TestRenderResourceGroupsDefaults(t *testing.T) {
	c, err := ParseJSON([]byte(`{"classes": {
		"etl": {"priority": 10, "maxRunning": 20},
		"analyst": {"priority": 50, "maxRunning": 3000, "perUser": {"maxRunning": 2}},
		"free": {},
		"rated": {"perUser": {"queriesPerMinute": 5}},
		"opted": {"maxRunning": 8, "trino": {"perUser": {}}}
	}}`))
	if err != nil {
		t.Fatal(err)
	}
	m := render(t, c)
	tests := []struct {
		group                   string
		hard, queued, weight    int // weight 0: none
		policy                  string
		leaf                    bool
		selector, softMemoryLim string
	}{
		// maxRunning bounds the class fleet-wide, so no cluster runs more.
		{"switchyard.etl", 20, MinMaxQueued, 11, SchedulingFair, true, "switchyard.etl", "100%"},
		// maxQueued covers every query the gateway may admit.
		{"switchyard.analyst", 3000, 3000, 51, SchedulingFair, false, "", "100%"},
		{"switchyard.analyst.${USER}", 2, MinMaxQueued, 0, "", true, "switchyard.analyst.${USER}", "100%"},
		{"switchyard.free", NoConcurrencyLimit, MinMaxQueued, 1, SchedulingFair, true, "switchyard.free", "100%"},
		// Per-user gateway limits of any kind give per-user groups.
		{"switchyard.rated.${USER}", NoConcurrencyLimit, MinMaxQueued, 0, "", true, "switchyard.rated.${USER}", "100%"},
		// A perUser block turns them on; users may run what the class runs.
		{"switchyard.opted.${USER}", 8, MinMaxQueued, 0, "", true, "switchyard.opted.${USER}", "100%"},
		{"switchyard.unclassified", NoConcurrencyLimit, MinMaxQueued, 1, "", true, "switchyard.unclassified", "100%"},
	}
	for _, tt := range tests {
		g := m.find(tt.group)
		if g == nil {
			t.Errorf("no group %s", tt.group)
			continue
		}
		weight := 0
		if g.SchedulingWeight != nil {
			weight = *g.SchedulingWeight
		}
		if *g.HardConcurrencyLimit != tt.hard || *g.MaxQueued != tt.queued || weight != tt.weight || g.SchedulingPolicy != tt.policy || (len(g.SubGroups) == 0) != tt.leaf || g.SoftMemoryLimit != tt.softMemoryLim {
			t.Errorf("%s: hard %d, queued %d, weight %d, policy %q, leaf %v, memory %s; want %d, %d, %d, %q, %v, %s",
				tt.group, *g.HardConcurrencyLimit, *g.MaxQueued, weight, g.SchedulingPolicy, len(g.SubGroups) == 0, g.SoftMemoryLimit,
				tt.hard, tt.queued, tt.weight, tt.policy, tt.leaf, tt.softMemoryLim)
		}
		if tt.selector != "" {
			found := false
			for _, s := range m.Selectors {
				found = found || s.Group == tt.selector
			}
			if !found {
				t.Errorf("no selector for %s", tt.selector)
			}
		}
	}
	root := m.RootGroups[0]
	if root.SchedulingPolicy != SchedulingWeightedFair || *root.HardConcurrencyLimit != NoConcurrencyLimit {
		t.Errorf("root: policy %q, hard %d", root.SchedulingPolicy, *root.HardConcurrencyLimit)
	}
	sum := 0
	for _, g := range root.SubGroups {
		sum += *g.MaxQueued
	}
	if *root.MaxQueued != sum {
		t.Errorf("root maxQueued %d, want its subgroups' sum %d", *root.MaxQueued, sum)
	}
	if m.CPUQuotaPeriod != "" {
		t.Errorf("cpuQuotaPeriod %q without CPU limits", m.CPUQuotaPeriod)
	}
	var order []string
	for _, s := range m.Selectors {
		order = append(order, s.Group)
	}
	want := "switchyard.analyst.${USER} switchyard.etl switchyard.free switchyard.opted.${USER} switchyard.rated.${USER} switchyard.unclassified"
	if got := strings.Join(order, " "); got != want {
		t.Errorf("selectors in order %s, want %s", got, want)
	}
}

// TestResourceGroupValidation: bad trino blocks are refused when the
// policy loads, each message naming the field.
func TestResourceGroupValidation(t *testing.T) {
	const cls = DataPath + ".classes.etl.trino"
	const top = DataPath + ".trino"
	tests := []struct {
		name  string
		class string // the etl class's fields, besides trino
		trino string // the class's trino block
		doc   string // the top-level trino block
		want  string
	}{
		{"memory over 100%", ``, `{"softMemoryLimit": "120%"}`, ``,
			cls + `.softMemoryLimit: a share of the cluster's memory must be more than 0% and at most 100%, got "120%"`},
		{"memory zero", ``, `{"softMemoryLimit": "0%"}`, ``, cls + `.softMemoryLimit: a share of the cluster's memory must be more than 0%`},
		{"memory not a size", ``, `{"softMemoryLimit": "lots"}`, ``, cls + `.softMemoryLimit: want a share such as "40%" or a size such as "10GB"`},
		{"memory bad unit", ``, `{"softMemoryLimit": "10GiB"}`, ``, cls + `.softMemoryLimit: want a share such as "40%" or a size such as "10GB": data size "10GiB": unknown unit "GiB"`},
		{"memory odd share", ``, `{"softMemoryLimit": "4O%"}`, ``, cls + `.softMemoryLimit: want a share such as "40%" or a size such as "10GB", got "4O%"`},
		{"memory a number", ``, `{"softMemoryLimit": 40}`, ``, cls + `.softMemoryLimit: want string, got number`},
		{"hard negative", ``, `{"hardConcurrencyLimit": -1}`, ``, cls + `.hardConcurrencyLimit: must be 0 (the default) or more, got -1`},
		{"hard above maxRunning", `"maxRunning": 5,`, `{"hardConcurrencyLimit": 6}`, ``,
			cls + `.hardConcurrencyLimit: 6 is more than the class's maxRunning (5): the gateway never runs more than that across the fleet, so no cluster can`},
		{"soft above hard", ``, `{"hardConcurrencyLimit": 4, "softConcurrencyLimit": 5}`, ``, cls + `.softConcurrencyLimit: 5 is more than the hardConcurrencyLimit (4)`},
		{"soft above derived hard", `"maxRunning": 3,`, `{"softConcurrencyLimit": 5}`, ``, cls + `.softConcurrencyLimit: 5 is more than the hardConcurrencyLimit (3)`},
		{"queue fails admitted queries", `"maxRunning": 50,`, `{"hardConcurrencyLimit": 10, "maxQueued": 5}`, ``,
			cls + `.maxQueued: 5 could fail queries the gateway admitted: the class's maxRunning let 50 into one cluster, 10 run (hardConcurrencyLimit), so want at least 40 (or 0, the default)`},
		{"queue negative", ``, `{"maxQueued": -2}`, ``, cls + `.maxQueued: must be 0 (the default) or more, got -2`},
		{"weight negative", ``, `{"schedulingWeight": -1}`, ``, cls + `.schedulingWeight: must be 0 (from the priority) or more, got -1`},
		{"unknown policy", ``, `{"schedulingPolicy": "fifo"}`, ``, cls + `.schedulingPolicy: must be one of fair, weighted, weighted_fair, query_priority, got "fifo"`},
		{"policy upper case", ``, `{"schedulingPolicy": "FAIR"}`, ``, cls + `.schedulingPolicy: must be one of fair, weighted, weighted_fair, query_priority, got "FAIR"`},
		{"soft CPU alone", ``, `{"softCpuLimit": "1h"}`, ``, cls + `.softCpuLimit: needs a hardCpuLimit too`},
		{"soft CPU above hard", ``, `{"softCpuLimit": "2h", "hardCpuLimit": "90m"}`, ``, cls + `.softCpuLimit: 2h is more than the hardCpuLimit (90m)`},
		{"CPU not a duration", ``, `{"hardCpuLimit": "an hour"}`, ``, cls + `.hardCpuLimit: duration "an hour": want a non-negative decimal number and a unit`},
		{"CPU zero", ``, `{"hardCpuLimit": "0s"}`, ``, cls + `.hardCpuLimit: must be more than 0, got "0s"`},
		// The class is decoded whole: the message names the class and the field.
		{"unknown field", ``, `{"maxRunning": 3}`, ``, DataPath + `.classes.etl: unknown field "maxRunning"`},
		{"unknown per-user field", ``, `{"perUser": {"weight": 3}}`, ``, DataPath + `.classes.etl: unknown field "weight"`},
		{"per-user limit a string", ``, `{"perUser": {"maxQueued": "10"}}`, ``, cls + `.perUser.maxQueued: want int, got string`},
		{"per-user limits while disabled", ``, `{"perUser": {"enabled": false, "hardConcurrencyLimit": 2}}`, ``,
			cls + `.perUser: sets limits but enabled is false: remove them or enable the per-user groups`},
		{"per-user hard above the gateway's", `"perUser": {"maxRunning": 2},`, `{"perUser": {"hardConcurrencyLimit": 3}}`, ``,
			cls + `.perUser.hardConcurrencyLimit: 3 is more than the class's perUser.maxRunning (2): the gateway never runs more than that for a user`},
		{"per-user hard above the class group's", ``, `{"hardConcurrencyLimit": 4, "perUser": {"hardConcurrencyLimit": 5}}`, ``,
			cls + `.perUser.hardConcurrencyLimit: 5 is more than the class group's hardConcurrencyLimit (4)`},
		{"per-user memory", ``, `{"perUser": {"softMemoryLimit": "101%"}}`, ``, cls + `.perUser.softMemoryLimit: a share of the cluster's memory must be more than 0% and at most 100%`},
		{"per-user soft above hard", `"perUser": {"maxRunning": 2},`, `{"perUser": {"softConcurrencyLimit": 3}}`, ``, cls + `.perUser.softConcurrencyLimit: 3 is more than the hardConcurrencyLimit (2)`},
		{"per-user queue", `"perUser": {"maxRunning": 8},`, `{"perUser": {"hardConcurrencyLimit": 2, "maxQueued": 1}}`, ``,
			cls + `.perUser.maxQueued: 1 could fail queries the gateway admitted: the class's perUser.maxRunning let 8 into one cluster, 2 run (hardConcurrencyLimit), so want at least 6 (or 0, the default)`},
		{"per-user soft CPU alone", ``, `{"perUser": {"softCpuLimit": "5m"}}`, ``, cls + `.perUser.softCpuLimit: needs a hardCpuLimit too`},

		{"quota period not a duration", ``, ``, `{"cpuQuotaPeriod": "hourly"}`, top + `.cpuQuotaPeriod: duration "hourly": want a non-negative decimal number and a unit`},
		{"quota period zero", ``, ``, `{"cpuQuotaPeriod": "0m"}`, top + `.cpuQuotaPeriod: must be more than 0, got "0m"`},
		{"root policy fair", ``, ``, `{"root": {"schedulingPolicy": "fair"}}`, top + `.root.schedulingPolicy: must be one of weighted_fair, weighted, got "fair"`},
		{"root policy query_priority", ``, ``, `{"root": {"schedulingPolicy": "query_priority"}}`, top + `.root.schedulingPolicy: must be one of weighted_fair, weighted, got "query_priority"`},
		{"root name with a dot", ``, ``, `{"root": {"name": "a.b"}}`, top + `.root.name: a group name must not be blank nor contain '.', '$', '{' or '}', got "a.b"`},
		{"root name a template", ``, ``, `{"root": {"name": "${USER}"}}`, top + `.root.name: a group name must not be blank nor contain`},
		{"root name blank", ``, ``, `{"root": {"name": "  "}}`, top + `.root.name: a group name must not be blank`},
		{"root memory", ``, ``, `{"root": {"softMemoryLimit": "200%"}}`, top + `.root.softMemoryLimit: a share of the cluster's memory must be more than 0% and at most 100%`},
		{"root soft above hard", ``, ``, `{"root": {"hardConcurrencyLimit": 10, "softConcurrencyLimit": 20}}`, top + `.root.softConcurrencyLimit: 20 is more than the hardConcurrencyLimit (10)`},
		{"root unknown field", ``, ``, `{"root": {"weight": 1}}`, top + `: unknown field "weight"`},
		{"unclassified name", ``, ``, `{"unclassified": {"name": "x{y}"}}`, top + `.unclassified.name: a group name must not be blank nor contain`},
		{"unclassified weight", ``, ``, `{"unclassified": {"schedulingWeight": -3}}`, top + `.unclassified.schedulingWeight: must be 0 (the default, 1) or more, got -3`},
		{"unclassified CPU", ``, ``, `{"unclassified": {"softCpuLimit": "9m", "hardCpuLimit": "8m"}}`, top + `.unclassified.softCpuLimit: 9m is more than the hardCpuLimit (8m)`},
		{"unknown top-level field", ``, ``, `{"rootGroups": []}`, top + `: unknown field "rootGroups"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			classTrino := tt.trino
			if classTrino == "" {
				classTrino = "{}"
			}
			doc := fmt.Sprintf(`{"classes": {"etl": {%s "trino": %s}}`, tt.class, classTrino)
			if tt.doc != "" {
				doc += `, "trino": ` + tt.doc
			}
			doc += "}"
			_, err := ParseJSON([]byte(doc))
			if err == nil {
				t.Fatalf("accepted %s", doc)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error\n  %v\nlacks\n  %s", err, tt.want)
			}
		})
	}
}

// TestResourceGroupValidationAccepts: the edges that are fine.
func TestResourceGroupValidationAccepts(t *testing.T) {
	for _, doc := range []string{
		`{"classes": {"etl": {"maxRunning": 5, "trino": {"hardConcurrencyLimit": 5, "softConcurrencyLimit": 5, "maxQueued": 1}}}}`,
		`{"classes": {"etl": {"maxRunning": 50, "trino": {"hardConcurrencyLimit": 10, "maxQueued": 40}}}}`,
		`{"classes": {"etl": {"trino": {"softMemoryLimit": "100%", "softCpuLimit": "1h", "hardCpuLimit": "1h"}}}}`,
		`{"classes": {"etl": {"trino": {"softMemoryLimit": "12.5%"}}}}`,
		`{"classes": {"etl": {"trino": {"softMemoryLimit": " 1.5 GB "}}}}`,
		`{"classes": {"etl": {"trino": {"schedulingPolicy": "query_priority", "perUser": {"enabled": true, "maxQueued": 3}}}}}`,
		`{"classes": {"etl": {"perUser": {"maxRunning": 3}, "trino": {"perUser": {"enabled": false}}}}}`,
		`{"classes": {"etl": {}}, "trino": {"root": {"name": "global", "schedulingPolicy": "weighted"}, "unclassified": {"name": "other users"}}}`,
	} {
		c, err := ParseJSON([]byte(doc))
		if err != nil {
			t.Errorf("%s: %v", doc, err)
			continue
		}
		if _, err := RenderResourceGroups(c); err != nil {
			t.Errorf("%s: render: %v", doc, err)
		}
	}
}

func TestRenderResourceGroupsRefuses(t *testing.T) {
	// Refused when the policy loads (Validate), so never rendered.
	_, err := ParseJSON([]byte(`{"classes": {"unclassified": {}}}`))
	want := DataPath + `.trino.unclassified.name: "unclassified" is also a class`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got %v, want %s", err, want)
	}
	c, err := ParseJSON([]byte(`{"classes": {"direct": {}}, "trino": {"unclassified": {"name": "other"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if m := render(t, c); m.find("switchyard.other") == nil || m.find("switchyard.direct") == nil {
		t.Error("renamed unclassified group missing")
	}
	_, err = ParseJSON([]byte(`{"classes": {"a": {"maxRunning": 30}, "b": {"maxRunning": 20}}, "trino": {"root": {"hardConcurrencyLimit": 10, "maxQueued": 30}}}`))
	want = DataPath + `.trino.root.maxQueued: 30 could fail queries the gateway admitted: the classes' maxRunning together let 50 into one cluster, 10 run (hardConcurrencyLimit), so want at least 40 (or 0, the default)`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got %v, want %s", err, want)
	}
	if _, err := RenderResourceGroups(nil); err == nil {
		t.Error("rendered nil definitions")
	}
}

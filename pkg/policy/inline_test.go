package policy

import (
	"context"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

// inlineModules compiles Rego modules with the inlining stage over data
// (JSON) and returns the compiled modules as text.
func inlineModules(t *testing.T, data string, modules map[string]string) string {
	t.Helper()
	v, err := ast.ParseTerm(data)
	if err != nil {
		t.Fatal(err)
	}
	parsed := map[string]*ast.Module{}
	for name, src := range modules {
		m, err := ast.ParseModuleWithOpts(name, src, ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			t.Fatal(err)
		}
		parsed[name] = m
	}
	// The modules as the stage leaves them (later stages rewrite them
	// further).
	var out []string
	capture := ast.CompilerStageDefinition{Name: "Capture", MetricName: "capture", Stage: func(c *ast.Compiler) *ast.Error {
		for _, name := range []string{"r.rego", "s.rego", "r_test.rego"} {
			if m, ok := c.Modules[name]; ok {
				out = append(out, m.String())
			}
		}
		return nil
	}}
	st := inlineDataStage(v.Value)
	c := ast.NewCompiler().WithStageAfterID(ast.StageSetRuleTree, st).WithStageAfterID(ast.StageSetRuleTree, capture)
	if c.Compile(parsed); c.Failed() {
		t.Fatal(c.Errors)
	}
	return strings.Join(out, "\n")
}

const inlineData = `{"switchyard": {"settings": {"etl_sources": ["airflow", "dbt"], "allow": {"etl": ["airflow"]}, "patterns": ["agent-*"]}}}`

// Reads of the data become its values: a whole path, a path indexed by a
// variable, a path in `some ... in`, in a comprehension and in a rule's
// head.
func TestInlineDataReplacesReads(t *testing.T) {
	got := inlineModules(t, inlineData, map[string]string{"r.rego": `package switchyard.routing
import data.switchyard.settings
etl if input.source in settings.etl_sources
allowed(g) if input.user in settings.allow[g]
agent if {
	some p in settings.patterns
	glob.match(p, [], input.source)
}
names := [s | some s in settings.etl_sources]
first := settings.etl_sources[0]
`})
	if strings.Contains(got, "data.switchyard.settings") {
		t.Fatalf("a read of the data is left:\n%s", got)
	}
	for _, want := range []string{
		`internal.member_2(input.source, ["airflow", "dbt"])`,
		`{"etl": ["airflow"]}[g]`,
		`some p in ["agent-*"]`,
		`first := ["airflow", "dbt"][0]`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("no %s in\n%s", want, got)
		}
	}
}

// What is not plain data stays a read: a document that rules define (in
// part), a path the data does not have, data that a rule replaces with
// `with`, and every read when a rule outside the tests replaces data.
// The tests' own rules are left as written.
func TestInlineDataLeavesWhatIsNotData(t *testing.T) {
	got := inlineModules(t, inlineData, map[string]string{
		"r.rego": `package switchyard.routing
import data.switchyard.settings
whole := settings
missing := settings.missing
etl if input.source in settings.etl_sources
`,
		"s.rego": `package switchyard.settings
extra := 1
`,
		"r_test.rego": `package switchyard.routing_test
import data.switchyard.routing
test_etl if routing.etl with input.source as "dbt" with data.switchyard.settings.etl_sources as ["dbt"]
`,
	})
	for _, want := range []string{
		"whole := data.switchyard.settings",
		"missing := data.switchyard.settings.missing",
		`internal.member_2(input.source, ["airflow", "dbt"])`,
		"with data.switchyard.settings.etl_sources as",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("no %s in\n%s", want, got)
		}
	}

	got = inlineModules(t, inlineData, map[string]string{"r.rego": `package switchyard.routing
import data.switchyard.settings
etl if input.source in settings.etl_sources
dbt if etl with data.switchyard.settings.etl_sources as ["dbt"]
`})
	if !strings.Contains(got, "internal.member_2(input.source, data.switchyard.settings.etl_sources)") {
		t.Fatalf("with a rule that replaces data, reads were inlined:\n%s", got)
	}
}

// A compiled policy decides with the data inlined as it would read it:
// the decision of a policy that reads its settings, and of one that
// replaces them with `with`.
func TestInlinedPolicyDecides(t *testing.T) {
	data := "switchyard:\n  settings:\n    etl_sources: [airflow, dbt]\n    groups: {airflow: etl, dbt: batch}\n"
	c, err := Compile(context.Background(), bundle(map[string]string{"data.yaml": data, "r.rego": `package switchyard.routing
import data.switchyard.settings
decision := {"allow": true, "routingGroup": settings.groups[input.request.source]} if input.request.source in settings.etl_sources
else := {"allow": false, "reason": sprintf("%s is not one of %v", [input.request.source, settings.etl_sources])}
`}))
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.Decide(context.Background(), &Input{Request: RequestInfo{Source: "airflow"}})
	if err != nil || !d.Allow || d.RoutingGroup != "etl" {
		t.Fatalf("%+v %v", d, err)
	}
	if d, err = c.Decide(context.Background(), &Input{Request: RequestInfo{Source: "dbt"}}); err != nil || !d.Allow || d.RoutingGroup != "batch" {
		t.Fatalf("%+v %v", d, err)
	}
	if d, err = c.Decide(context.Background(), &Input{Request: RequestInfo{Source: "cli"}}); err != nil || d.Allow || d.Reason != `cli is not one of ["airflow", "dbt"]` {
		t.Fatalf("%+v %v", d, err)
	}

	c, err = Compile(context.Background(), bundle(map[string]string{"data.yaml": data, "r.rego": `package switchyard.routing
import data.switchyard.settings
etl if input.request.source in settings.etl_sources
decision := {"allow": true} if {
	etl with data.switchyard.settings.etl_sources as ["cli"]
} else := {"allow": false}
`}))
	if err != nil {
		t.Fatal(err)
	}
	if d, err = c.Decide(context.Background(), &Input{Request: RequestInfo{Source: "cli"}}); err != nil || !d.Allow {
		t.Fatalf("with replaced the settings, yet: %+v %v", d, err)
	}
}

package policy

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"
	"github.com/open-policy-agent/opa/v1/topdown"

	"github.com/switchyard-gw/switchyard/pkg/governance"
)

// The rules Switchyard evaluates.
const (
	RoutingQuery = "data.switchyard.routing.decision"
	AuthzQuery   = "data.switchyard.authz.decision"
	// IdentityQuery decides whether a verified principal may run as the
	// user its X-Trino-User names (impersonation).
	IdentityQuery = "data.switchyard.identity.decision"
)

// Compiled is a policy ready to evaluate.
type Compiled struct {
	Version string
	Loaded  time.Time
	Files   []string
	Tests   TestReport
	// Tables is data.switchyard.tables: metadata of tables by
	// catalog.schema.table (size class, sensitivity tags, owner).
	Tables map[string]any
	// Governance is data.switchyard.governance: the workload classes and
	// cluster caps (nil: no workload governance).
	Governance *governance.Config

	routing    rego.PreparedEvalQuery
	authz      *rego.PreparedEvalQuery
	identity   *rego.PreparedEvalQuery
	protection *rego.PreparedEvalQuery
	watchdog   *rego.PreparedEvalQuery
	// submission evaluates the routing and the protection decision of a
	// submission together (nil without protection rules): one evaluation
	// instead of two saves OPA's per-evaluation setup.
	submission *rego.PreparedEvalQuery
	// data is the policy data as OPA values, for every evaluation's reads
	// (nil: read from the store).
	data topdown.BaseCache
}

// TestReport summarises the policy's own Rego tests.
type TestReport struct {
	Passed   int      `json:"passed"`
	Failed   int      `json:"failed"`
	Failures []string `json:"failures,omitempty"`
}

// CompileError lists every problem of a policy that cannot be used.
type CompileError struct {
	Problems []string
}

func (e *CompileError) Error() string {
	return "policy refused: " + strings.Join(e.Problems, "; ")
}

// Compile parses, compiles and tests a bundle and prepares its queries. A
// compile error or a failing test refuses the bundle with every problem.
func Compile(ctx context.Context, b *Bundle) (*Compiled, error) {
	modules, problems := parse(b)
	data, err := b.data()
	if err != nil {
		problems = append(problems, err.Error())
	}
	var gov *governance.Config
	if err == nil {
		if gov, err = governanceData(data); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) > 0 {
		return nil, &CompileError{Problems: problems}
	}
	if len(modules) == 0 {
		return nil, &CompileError{Problems: []string{"the bundle has no Rego module"}}
	}
	// Keep data as OPA values: a store of Go values converts what a rule
	// reads on every evaluation.
	store := inmem.NewFromObjectWithOpts(data, inmem.OptReturnASTValuesOnRead(true))
	var dataValue ast.Value
	if v, err := storage.ReadOne(ctx, store, storage.Path{}); err == nil {
		dataValue, _ = v.(ast.Value)
	}
	compiler := ast.NewCompiler().WithStageAfterID(ast.StageSetRuleTree, inlineDataStage(dataValue))
	if compiler.Compile(modules); compiler.Failed() {
		for _, e := range compiler.Errors {
			problems = append(problems, e.Error())
		}
		return nil, &CompileError{Problems: problems}
	}
	if !definesRule(compiler, "data.switchyard.routing.decision") {
		return nil, &CompileError{Problems: []string{"no rule data.switchyard.routing.decision: the policy must define package switchyard.routing with a decision rule"}}
	}

	// The policy's own tests must pass (on a fresh parse: the test runner
	// compiles the modules its own way).
	testModules, _ := parse(b)
	report, err := runTests(ctx, testModules, data)
	if err != nil {
		return nil, err
	}
	if report.Failed > 0 {
		return nil, &CompileError{Problems: report.Failures}
	}

	c := &Compiled{Version: b.Version(), Loaded: time.Now(), Files: b.Names(), Tests: report, Governance: gov}
	if sw, ok := data["switchyard"].(map[string]any); ok {
		c.Tables, _ = sw["tables"].(map[string]any)
	}
	if dataValue != nil {
		c.data = dataCache{data: dataValue}
	}
	c.routing, err = rego.New(rego.Query(RoutingQuery), rego.Compiler(compiler), rego.Store(store)).PrepareForEval(ctx)
	if err != nil {
		return nil, &CompileError{Problems: []string{"preparing " + RoutingQuery + ": " + err.Error()}}
	}
	for _, opt := range []struct {
		query string
		dst   **rego.PreparedEvalQuery
	}{{AuthzQuery, &c.authz}, {IdentityQuery, &c.identity}, {ProtectionQuery, &c.protection}, {WatchdogQuery, &c.watchdog}} {
		if !definesRule(compiler, opt.query) {
			continue
		}
		q, err := rego.New(rego.Query(opt.query), rego.Compiler(compiler), rego.Store(store)).PrepareForEval(ctx)
		if err != nil {
			return nil, &CompileError{Problems: []string{"preparing " + opt.query + ": " + err.Error()}}
		}
		*opt.dst = &q
	}
	if c.protection != nil {
		q, err := rego.New(rego.Query(RoutingQuery+"; "+ProtectionQuery), rego.Compiler(compiler), rego.Store(store)).PrepareForEval(ctx)
		if err != nil {
			return nil, &CompileError{Problems: []string{"preparing " + RoutingQuery + " with " + ProtectionQuery + ": " + err.Error()}}
		}
		c.submission = &q
	}
	return c, nil
}

// governanceData reads and validates data.switchyard.governance, if any
// (each problem on its own line of the refusal).
func governanceData(data map[string]any) (*governance.Config, error) {
	sw, _ := data["switchyard"].(map[string]any)
	v, ok := sw["governance"]
	if !ok {
		return nil, nil
	}
	return governance.Parse(v)
}

// parse reads the bundle's Rego modules (Rego v1 syntax).
func parse(b *Bundle) (map[string]*ast.Module, []string) {
	modules := map[string]*ast.Module{}
	var problems []string
	for _, n := range b.Names() {
		if !strings.HasSuffix(n, ".rego") {
			continue
		}
		m, err := ast.ParseModuleWithOpts(n, string(b.Files[n]), ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		modules[n] = m
	}
	return modules, problems
}

func definesRule(c *ast.Compiler, ref string) bool {
	return len(c.GetRulesExact(ast.MustParseRef(ref))) > 0
}

// runTests runs the bundle's test_ rules like `opa test`.
func runTests(ctx context.Context, modules map[string]*ast.Module, data map[string]any) (TestReport, error) {
	var rep TestReport
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ch, err := tester.NewRunner().SetStore(inmem.NewFromObject(data)).SetTimeout(10*time.Second).SetModules(modules).RunTests(ctx, nil)
	if err != nil {
		return rep, &CompileError{Problems: []string{"running the policy tests: " + err.Error()}}
	}
	for r := range ch {
		switch {
		case r.Skip:
		case r.Fail || r.Error != nil:
			rep.Failed++
			msg := fmt.Sprintf("test %s.%s failed", strings.TrimPrefix(r.Package, "data."), r.Name)
			if r.Location != nil {
				msg += fmt.Sprintf(" (%s:%d)", r.Location.File, r.Location.Row)
			}
			if r.Error != nil {
				msg += ": " + r.Error.Error()
			}
			rep.Failures = append(rep.Failures, msg)
		default:
			rep.Passed++
		}
	}
	return rep, nil
}

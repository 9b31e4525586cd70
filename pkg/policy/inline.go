package policy

import (
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// The policy data is part of the bundle: it never changes once compiled.
// A rule that reads it (settings.etl_sources, classes[c]) would otherwise
// look it up on every evaluation: OPA walks the ref through its rule tree
// and its base-document cache each time, about a microsecond per ref, and
// the shipped routing decision's plain path reads about eight of them for
// an ordinary submission. The compiler is given one more stage, after the refs are
// resolved and the rule tree is built, which puts the data's values in
// place of the refs that read it: data.switchyard.settings.etl_sources
// becomes the array itself, and data.switchyard.governance.classes[c]
// becomes the classes object indexed by c.
//
// A ref is left as it is when rules define any part of its path (a
// virtual document, or a package under it), when the data does not have
// its path (it stays undefined at run time, as before), and when any rule
// replaces data with `with` (the replacement must still apply). The
// policy's own tests are compiled without this stage; the decisions'
// equivalence test (equivalence_test.go) runs with it.

// inlineDataStage is the compiler stage that inlines data (a nil data
// inlines nothing).
func inlineDataStage(data ast.Value) ast.CompilerStageDefinition {
	return ast.CompilerStageDefinition{
		Name:       "InlineData",
		MetricName: "compile_stage_inline_data",
		Stage: func(c *ast.Compiler) *ast.Error {
			if data == nil || replacesData(c) {
				return nil
			}
			for _, m := range c.Modules {
				if isTestModule(m) {
					continue
				}
				for _, r := range m.Rules {
					inlineRule(c, data, r)
				}
			}
			return nil
		},
	}
}

// inlineRule inlines data in a rule: its head, its body, and the rules of
// its else chain.
func inlineRule(c *ast.Compiler, data ast.Value, r *ast.Rule) {
	inline := func(x any) {
		_, _ = ast.TransformRefs(x, func(ref ast.Ref) (ast.Value, error) {
			return inlineRef(c, data, ref), nil
		})
	}
	// `some x in xs` is a declaration until a later stage rewrites it, and
	// the transformation does not enter declarations.
	ast.WalkExprs(r, func(e *ast.Expr) bool {
		if decl, ok := e.Terms.(*ast.SomeDecl); ok {
			for _, sym := range decl.Symbols {
				inline(sym)
			}
		}
		return false
	})
	inline(r)
}

// inlineRef returns what ref becomes: the data's value at its path, the
// value indexed by the rest of the ref, or the ref itself.
func inlineRef(c *ast.Compiler, data ast.Value, ref ast.Ref) ast.Value {
	if len(ref) < 2 || !ref[0].Equal(ast.DefaultRootDocument) {
		return ref
	}
	// The longest prefix that is a path of strings.
	n := 1
	for n < len(ref) {
		if _, ok := ref[n].Value.(ast.String); !ok {
			break
		}
		n++
	}
	path := ref[:n]
	if n == 1 || len(c.GetRules(path)) > 0 {
		return ref
	}
	v, err := data.Find(path[1:])
	if err != nil {
		return ref
	}
	if n == len(ref) {
		return v
	}
	out := make(ast.Ref, 0, 1+len(ref)-n)
	out = append(out, ast.NewTerm(v))
	return append(out, ref[n:]...)
}

// isTestModule reports whether m is one of the policy's tests (a
// _test.rego file): its rules are evaluated only by the test run, which
// compiles the bundle without this stage.
func isTestModule(m *ast.Module) bool {
	return m.Package.Location != nil && strings.HasSuffix(m.Package.Location.File, "_test.rego")
}

// replacesData reports whether a rule outside the tests replaces part of
// data with `with`.
func replacesData(c *ast.Compiler) bool {
	found := false
	for _, m := range c.Modules {
		if isTestModule(m) {
			continue
		}
		ast.WalkExprs(m, func(e *ast.Expr) bool {
			for _, w := range e.With {
				if ref, ok := w.Target.Value.(ast.Ref); ok && ref[0].Equal(ast.DefaultRootDocument) {
					found = true
				}
			}
			return found
		})
		if found {
			return true
		}
	}
	return false
}

package policy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// Decision is what the routing policy decided.
type Decision struct {
	Allow        bool     `json:"allow"`
	Reason       string   `json:"reason,omitempty"`
	RoutingGroup string   `json:"routingGroup,omitempty"`
	Cluster      string   `json:"cluster,omitempty"`
	Clusters     []string `json:"clusters,omitempty"`
	// Class is the workload class (data.switchyard.governance.classes);
	// empty: the default class.
	Class       string            `json:"class,omitempty"`
	Headers     map[string]string `json:"headers,omitempty"`
	Explanation []string          `json:"explanation,omitempty"`
	Policy      string            `json:"policy"`
}

// AuthzDecision is what the authorization policy decided.
type AuthzDecision struct {
	Allow       bool     `json:"allow"`
	Reason      string   `json:"reason,omitempty"`
	Explanation []string `json:"explanation,omitempty"`
	Policy      string   `json:"policy"`
	// Unset: no policy (or no rule for this question) decided.
	Unset bool `json:"-"`
}

// Engine holds the current policy and swaps it atomically.
type Engine struct {
	cur atomic.Pointer[Compiled]
	log *slog.Logger
	// OnSwap is called after a new policy took over (metrics, logs).
	OnSwap func(*Compiled)
	// Refused counts policies refused by Replace.
	Refused atomic.Int64
}

// NewEngine returns an engine serving c (nil: no policy until one is
// loaded or published).
func NewEngine(c *Compiled, log *slog.Logger) *Engine {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{log: log}
	if c != nil {
		e.cur.Store(c)
	}
	return e
}

// Current returns the policy in use, nil if there is none.
func (e *Engine) Current() *Compiled { return e.cur.Load() }

// Replace compiles and tests b and, only if that succeeds, makes it the
// policy in use. The previous policy serves until the swap and after a
// refusal.
func (e *Engine) Replace(ctx context.Context, b *Bundle) (*Compiled, error) {
	c, err := Compile(ctx, b)
	if err != nil {
		e.Refused.Add(1)
		e.log.Error("policy refused; the running policy keeps serving", "version", b.Version(), "error", err)
		return nil, err
	}
	old := e.cur.Swap(c)
	from := ""
	if old != nil {
		from = old.Version
	}
	e.log.Info("policy loaded", "version", c.Version, "previous", from, "files", len(c.Files), "tests_passed", c.Tests.Passed)
	if e.OnSwap != nil {
		e.OnSwap(c)
	}
	return c, nil
}

// ErrPolicy is a policy that failed at run time (e.g. conflicting rule
// values): the request fails closed.
var ErrPolicy = errors.New("policy evaluation failed")

// Decide evaluates the routing policy in use.
func (e *Engine) Decide(ctx context.Context, in *Input) (*Decision, error) {
	c := e.cur.Load()
	if c == nil {
		return nil, fmt.Errorf("%w: no policy loaded", ErrPolicy)
	}
	return c.Decide(ctx, in)
}

// Decide evaluates this policy's routing decision (a caller that read
// Current once decides with the same policy throughout).
func (c *Compiled) Decide(ctx context.Context, in *Input) (*Decision, error) {
	obj, err := c.evalObject(ctx, c.routing, RoutingQuery, rego.EvalParsedInput(in.astValue(in.FleetValue)))
	if err != nil {
		return nil, err
	}
	return c.decision(obj)
}

// decision reads the routing decision's fields.
func (c *Compiled) decision(obj ast.Object) (*Decision, error) {
	d := &Decision{Policy: c.Version}
	var err error
	if d.Allow, err = boolField(obj, "allow", true); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		key string
		dst *string
	}{{"reason", &d.Reason}, {"routingGroup", &d.RoutingGroup}, {"cluster", &d.Cluster}, {"class", &d.Class}} {
		if *f.dst, err = stringField(obj, f.key); err != nil {
			return nil, err
		}
	}
	if d.Clusters, err = stringsField(obj, "clusters"); err != nil {
		return nil, err
	}
	if d.Explanation, err = stringsField(obj, "explanation"); err != nil {
		return nil, err
	}
	if d.Headers, err = headersField(obj, "headers"); err != nil {
		return nil, err
	}
	return d, nil
}

// Authorize evaluates the authorization policy; a policy without one
// allows everything.
func (e *Engine) Authorize(ctx context.Context, in *AuthzInput) (*AuthzDecision, error) {
	c := e.cur.Load()
	if c == nil {
		return &AuthzDecision{Allow: true, Reason: "no policy", Unset: true}, nil
	}
	if c.authz == nil {
		return &AuthzDecision{Allow: true, Reason: "no authorization policy", Policy: c.Version, Unset: true}, nil
	}
	return allowDecision(ctx, c, *c.authz, AuthzQuery, in.value())
}

// allowDecision evaluates a rule whose value is {allow, reason,
// explanation}.
func allowDecision(ctx context.Context, c *Compiled, q rego.PreparedEvalQuery, name string, input map[string]any) (*AuthzDecision, error) {
	obj, err := c.evalObject(ctx, q, name, rego.EvalInput(input))
	if err != nil {
		return nil, err
	}
	d := &AuthzDecision{Policy: c.Version}
	if d.Allow, err = boolField(obj, "allow", false); err != nil {
		return nil, err
	}
	if d.Reason, err = stringField(obj, "reason"); err != nil {
		return nil, err
	}
	if d.Explanation, err = stringsField(obj, "explanation"); err != nil {
		return nil, err
	}
	return d, nil
}

// Impersonate decides whether a verified principal may run queries as
// another user. Without a policy, or without
// data.switchyard.identity.decision, nobody may (Trino's default).
func (e *Engine) Impersonate(ctx context.Context, in *ImpersonationInput) (*AuthzDecision, error) {
	c := e.cur.Load()
	if c == nil || c.identity == nil {
		d := &AuthzDecision{Reason: "no impersonation rules"}
		if c != nil {
			d.Policy = c.Version
		}
		return d, nil
	}
	return allowDecision(ctx, c, *c.identity, IdentityQuery, in.value())
}

// evalObject evaluates a prepared query whose value must be an object, and
// returns it as OPA has it (no conversion to Go values: the decision reads
// a few fields).
func (c *Compiled) evalObject(ctx context.Context, q rego.PreparedEvalQuery, name string, input rego.EvalOption) (ast.Object, error) {
	var obj [1]ast.Object
	if err := c.evalObjects(ctx, q, []string{name}, input, obj[:]); err != nil {
		return nil, err
	}
	return obj[0], nil
}

// evalObjects evaluates a prepared query of one expression per name, each
// of whose values must be an object, into objs. OPA's per-evaluation
// metrics, which nothing reads, are off.
func (c *Compiled) evalObjects(ctx context.Context, q rego.PreparedEvalQuery, names []string, input rego.EvalOption, objs []ast.Object) error {
	// OPA starts a goroutine per evaluation to watch ctx unless it is
	// given a canceller: this one is cancelled with ctx (AfterFunc starts
	// nothing until then, and nothing at all for a context that cannot be
	// cancelled).
	cancel := topdown.NewCancel()
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, cancel.Cancel)
		defer stop()
	}
	opts := []rego.EvalOption{input, rego.EvalMetrics(noMetrics), rego.EvalGenerateJSON(keepTerm), rego.EvalExternalCancel(cancel)}
	if c.data != nil {
		opts = append(opts, rego.EvalBaseCache(c.data))
	}
	var rs rego.ResultSet
	var err error
	evaluators.run(func() { rs, err = q.Eval(ctx, opts...) })
	if err != nil {
		return fmt.Errorf("%w: %v", ErrPolicy, err)
	}
	if len(rs) == 0 || len(rs[0].Expressions) != len(names) {
		return fmt.Errorf("%w: %s is undefined for this request", ErrPolicy, strings.Join(names, " or "))
	}
	for i, name := range names {
		ok := false
		if t, isTerm := rs[0].Expressions[i].Value.(*ast.Term); isTerm && t != nil {
			objs[i], ok = t.Value.(ast.Object)
		}
		if !ok {
			return fmt.Errorf("%w: %s is not an object", ErrPolicy, name)
		}
	}
	return nil
}

// dataCache answers OPA's reads of the policy data (base documents) from
// the data as OPA values, shared by every evaluation of the policy: the
// data never changes once compiled, so what an evaluation would read from
// the store (and cache for itself) is already there. It is read-only; the
// root document itself is left to the store.
type dataCache struct{ data ast.Value }

func (d dataCache) Get(ref ast.Ref) ast.Value {
	if len(ref) < 2 {
		return nil
	}
	v, err := d.data.Find(ref[1:])
	if err != nil {
		return nil
	}
	return v
}

func (dataCache) Put(ast.Ref, ast.Value) {}

func keepTerm(t *ast.Term, _ *rego.EvalContext) (any, error) { return t, nil }

var noMetrics = metrics.NoOp()

// field is obj[key], nil when absent or null.
func field(obj ast.Object, key string) ast.Value {
	t := obj.Get(str(key))
	if t == nil {
		return nil
	}
	if _, null := t.Value.(ast.Null); null {
		return nil
	}
	return t.Value
}

func boolField(obj ast.Object, key string, def bool) (bool, error) {
	v := field(obj, key)
	if v == nil {
		return def, nil
	}
	b, ok := v.(ast.Boolean)
	if !ok {
		return false, fmt.Errorf("%w: decision.%s must be a boolean", ErrPolicy, key)
	}
	return bool(b), nil
}

func stringField(obj ast.Object, key string) (string, error) {
	v := field(obj, key)
	if v == nil {
		return "", nil
	}
	s, ok := v.(ast.String)
	if !ok {
		return "", fmt.Errorf("%w: decision.%s must be a string", ErrPolicy, key)
	}
	return string(s), nil
}

// stringsField reads an array or a set of strings, sorted.
func stringsField(obj ast.Object, key string) ([]string, error) {
	var terms []*ast.Term
	switch v := field(obj, key).(type) {
	case nil:
		return nil, nil
	case *ast.Array:
		v.Foreach(func(t *ast.Term) { terms = append(terms, t) })
	case ast.Set:
		terms = v.Slice()
	default:
		return nil, fmt.Errorf("%w: decision.%s must be an array of strings", ErrPolicy, key)
	}
	out := make([]string, 0, len(terms))
	for _, t := range terms {
		s, ok := t.Value.(ast.String)
		if !ok {
			return nil, fmt.Errorf("%w: decision.%s must be an array of strings", ErrPolicy, key)
		}
		out = append(out, string(s))
	}
	sort.Strings(out)
	return out, nil
}

func headersField(obj ast.Object, key string) (map[string]string, error) {
	v := field(obj, key)
	if v == nil {
		return nil, nil
	}
	o, ok := v.(ast.Object)
	if !ok {
		return nil, fmt.Errorf("%w: decision.%s must be an object of strings", ErrPolicy, key)
	}
	out := make(map[string]string, o.Len())
	var bad error
	o.Foreach(func(k, v *ast.Term) {
		ks, kok := k.Value.(ast.String)
		vs, vok := v.Value.(ast.String)
		if !kok || !vok {
			if bad == nil {
				bad = fmt.Errorf("%w: decision.%s[%s] must be a string", ErrPolicy, key, k)
			}
			return
		}
		out[string(ks)] = string(vs)
	})
	return out, bad
}

// Watch reloads the policy directory when its files change (checked every
// interval by name, size and modification time; the first check compares
// the directory with the policy in use). A refused version is logged and
// not retried until the files change again.
func (e *Engine) Watch(ctx context.Context, dir string, interval time.Duration) {
	last := ""
	every(ctx, interval, func() {
		fp := fingerprint(dir)
		if fp == last {
			return
		}
		last = fp
		b, err := LoadDir(dir)
		if err != nil {
			e.log.Error("policy directory changed but cannot be read; the running policy keeps serving", "dir", dir, "error", err)
			return
		}
		e.offer(ctx, b)
	})
}

// every calls fn every interval until ctx ends.
func every(ctx context.Context, interval time.Duration, fn func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

// offer makes b the policy in use unless it already is (a refusal is
// logged and counted by Replace).
func (e *Engine) offer(ctx context.Context, b *Bundle) {
	if c := e.Current(); c != nil && c.Version == b.Version() {
		return
	}
	_, _ = e.Replace(ctx, b)
}

func fingerprint(dir string) string {
	var b strings.Builder
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !isPolicyFile(path) {
			return nil
		}
		if info, err := d.Info(); err == nil {
			fmt.Fprintf(&b, "%s %d %d\n", path, info.Size(), info.ModTime().UnixNano())
		}
		return nil
	})
	return b.String()
}

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

	"github.com/open-policy-agent/opa/v1/rego"
)

// Decision is what the routing policy decided.
type Decision struct {
	Allow        bool              `json:"allow"`
	Reason       string            `json:"reason,omitempty"`
	RoutingGroup string            `json:"routingGroup,omitempty"`
	Cluster      string            `json:"cluster,omitempty"`
	Clusters     []string          `json:"clusters,omitempty"`
	Headers      map[string]string `json:"headers,omitempty"`
	Explanation  []string          `json:"explanation,omitempty"`
	Policy       string            `json:"policy"`
}

// AuthzDecision is what the authorization policy decided.
type AuthzDecision struct {
	Allow       bool     `json:"allow"`
	Reason      string   `json:"reason,omitempty"`
	Explanation []string `json:"explanation,omitempty"`
	Policy      string   `json:"policy"`
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

// Decide evaluates the routing policy.
func (e *Engine) Decide(ctx context.Context, in *Input) (*Decision, error) {
	c := e.cur.Load()
	if c == nil {
		return nil, fmt.Errorf("%w: no policy loaded", ErrPolicy)
	}
	rs, err := c.routing.Eval(ctx, rego.EvalParsedInput(in.astValue(in.FleetValue)))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPolicy, err)
	}
	d := &Decision{Policy: c.Version}
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return nil, fmt.Errorf("%w: %s is undefined for this request", ErrPolicy, RoutingQuery)
	}
	obj, ok := rs[0].Expressions[0].Value.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: %s is not an object", ErrPolicy, RoutingQuery)
	}
	if d.Allow, err = boolField(obj, "allow", true); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		key string
		dst *string
	}{{"reason", &d.Reason}, {"routingGroup", &d.RoutingGroup}, {"cluster", &d.Cluster}} {
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
	if h, ok := obj["headers"]; ok && h != nil {
		hm, ok := h.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%w: decision.headers must be an object of strings", ErrPolicy)
		}
		d.Headers = map[string]string{}
		for k, v := range hm {
			s, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("%w: decision.headers[%q] must be a string", ErrPolicy, k)
			}
			d.Headers[k] = s
		}
	}
	return d, nil
}

// Authorize evaluates the authorization policy; a policy without one
// allows everything.
func (e *Engine) Authorize(ctx context.Context, in *AuthzInput) (*AuthzDecision, error) {
	c := e.cur.Load()
	if c == nil {
		return &AuthzDecision{Allow: true, Reason: "no policy"}, nil
	}
	if c.authz == nil {
		return &AuthzDecision{Allow: true, Reason: "no authorization policy", Policy: c.Version}, nil
	}
	rs, err := c.authz.Eval(ctx, rego.EvalInput(in.value()))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPolicy, err)
	}
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return nil, fmt.Errorf("%w: %s is undefined for this request", ErrPolicy, AuthzQuery)
	}
	obj, ok := rs[0].Expressions[0].Value.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: %s is not an object", ErrPolicy, AuthzQuery)
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

func boolField(obj map[string]any, key string, def bool) (bool, error) {
	v, ok := obj[key]
	if !ok {
		return def, nil
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("%w: decision.%s must be a boolean", ErrPolicy, key)
	}
	return b, nil
}

func stringField(obj map[string]any, key string) (string, error) {
	v, ok := obj[key]
	if !ok || v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%w: decision.%s must be a string", ErrPolicy, key)
	}
	return s, nil
}

func stringsField(obj map[string]any, key string) ([]string, error) {
	v, ok := obj[key]
	if !ok || v == nil {
		return nil, nil
	}
	var items []any
	switch x := v.(type) {
	case []any:
		items = x
	case map[string]any: // a Rego set of strings arrives as... an array; keep objects out
		return nil, fmt.Errorf("%w: decision.%s must be an array of strings", ErrPolicy, key)
	default:
		return nil, fmt.Errorf("%w: decision.%s must be an array of strings", ErrPolicy, key)
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		s, ok := it.(string)
		if !ok {
			return nil, fmt.Errorf("%w: decision.%s must be an array of strings", ErrPolicy, key)
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out, nil
}

// Watch reloads the policy directory when its files change (checked every
// interval by name, size and modification time; the first check compares
// the directory with the policy in use). A refused version is logged and
// not retried until the files change again.
func (e *Engine) Watch(ctx context.Context, dir string, interval time.Duration) {
	last := ""
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fp := fingerprint(dir)
		if fp == last {
			continue
		}
		last = fp
		b, err := LoadDir(dir)
		if err != nil {
			e.log.Error("policy directory changed but cannot be read; the running policy keeps serving", "dir", dir, "error", err)
			continue
		}
		if c := e.Current(); c != nil && c.Version == b.Version() {
			continue
		}
		_, _ = e.Replace(ctx, b)
	}
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

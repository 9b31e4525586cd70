package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/admission"
	"github.com/switchyard-gw/switchyard/pkg/config"
	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/health"
	"github.com/switchyard-gw/switchyard/pkg/policy"
	"github.com/switchyard-gw/switchyard/pkg/routing"
	"github.com/switchyard-gw/switchyard/pkg/store"
)

const policyUsage = `Usage: switchyard policy COMMAND [flags]

  test [--dir DIR]                     compile the policy and run its Rego tests
  eval --user U [--source S] --sql SQL [--header K=V ...]
                                       what the gateway would decide, and why:
                                       live (--admin, --token) or locally against
                                       a configuration (--config FILE [--dir DIR])
  upload --dir DIR                     validate and publish a policy to the fleet
  decisions [--limit N]                recent routing decisions
`

func policyCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, policyUsage)
		return ErrUsage
	}
	verb, args := args[0], args[1:]
	fs := newFlags("policy "+verb, stderr)
	client := adminFlags(fs)
	// loadDir parses the flags of test and upload and reads --dir.
	loadDir := func() (string, *policy.Bundle, error) {
		dir := fs.String("dir", "policies", "policy directory")
		if err := parse(fs, args); err != nil {
			return "", nil, err
		}
		b, err := policy.LoadDir(*dir)
		return *dir, b, err
	}
	switch verb {
	case "test":
		dir, b, err := loadDir()
		if err != nil {
			return err
		}
		c, err := policy.Compile(ctx, b)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "policy %s (%s): %d files, %d tests passed\n", dir, c.Version, len(c.Files), c.Tests.Passed)
		return nil
	case "upload":
		_, b, err := loadDir()
		if err != nil {
			return err
		}
		files := map[string]string{}
		for n, c := range b.Files {
			files[n] = string(c)
		}
		var info struct {
			Version string            `json:"version"`
			Tests   policy.TestReport `json:"tests"`
		}
		if err := client().do(ctx, http.MethodPut, "/api/v1/policy", map[string]any{"files": files}, &info); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "policy %s published (%d tests passed)\n", info.Version, info.Tests.Passed)
		return nil
	case "decisions":
		limit := fs.Int("limit", 20, "how many")
		if err := parse(fs, args); err != nil {
			return err
		}
		var ds []policy.LogEntry
		if err := client().do(ctx, http.MethodGet, fmt.Sprintf("/api/v1/decisions?limit=%d", *limit), nil, &ds); err != nil {
			return err
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(ds)
	case "eval":
		user := fs.String("user", "", "X-Trino-User")
		source := fs.String("source", "", "X-Trino-Source")
		sql := fs.String("sql", "", "the SQL text")
		var headers multi
		fs.Var(&headers, "header", "another request header K=V (repeatable)")
		cfgPath := fs.String("config", "", "decide locally against this configuration's fleet (every cluster assumed healthy)")
		dir := fs.String("dir", "", "with --config: the policy directory (default: the configuration's policy.dir)")
		if err := parse(fs, args); err != nil {
			return err
		}
		req := admission.DryRunRequest{SQL: *sql, Headers: map[string]string{}}
		if *user != "" {
			req.Headers["X-Trino-User"] = *user
		}
		if *source != "" {
			req.Headers["X-Trino-Source"] = *source
		}
		for _, h := range headers {
			k, v, ok := strings.Cut(h, "=")
			if !ok {
				fmt.Fprintf(stderr, "policy eval: --header %q is not K=V\n", h)
				return ErrUsage
			}
			req.Headers[k] = v
		}
		var res *admission.DryRunResult
		if *cfgPath != "" {
			var err error
			if res, err = localDryRun(ctx, *cfgPath, *dir, req); err != nil {
				return err
			}
		} else if err := client().do(ctx, http.MethodPost, "/api/v1/policy/eval", req, &res); err != nil {
			return err
		}
		printDryRun(stdout, res)
		return nil
	}
	fmt.Fprintf(stderr, "unknown policy command %q\n\n%s", verb, policyUsage)
	return ErrUsage
}

func printDryRun(w io.Writer, r *admission.DryRunResult) {
	d := r.Decision
	fmt.Fprintf(w, "statement: %s; tables: %s\n", r.Classification.Type, orNone(r.Classification.Tables))
	switch {
	case d.Error != "":
		fmt.Fprintf(w, "refused: %s\n", d.Error)
	default:
		fmt.Fprintf(w, "routed: group %s, route %s\n", d.Group, r.Route)
	}
	if d.Policy != "" {
		fmt.Fprintf(w, "policy %s decided in %d µs\n", d.Policy, d.Micros)
	}
	for _, e := range d.Explanation {
		fmt.Fprintf(w, "  because %s\n", e)
	}
}

// localDryRun decides against a configuration file's fleet, assuming every
// coordinator healthy.
func localDryRun(ctx context.Context, cfgPath, dir string, req admission.DryRunRequest) (*admission.DryRunResult, error) {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return nil, err
	}
	if dir == "" {
		dir = cfg.Policy.Dir
	}
	var eng *policy.Engine
	if dir != "" {
		b, err := policy.LoadDir(dir)
		if err != nil {
			return nil, err
		}
		c, err := policy.Compile(ctx, b)
		if err != nil {
			return nil, err
		}
		eng = policy.NewEngine(c, nil)
	}
	h := assumeHealthy{}
	p := admission.New(admission.Options{
		Router: routing.New(fleet.FromConfig(cfg), h), Queries: store.NewMemory().Queries, Policy: eng, Health: h,
		QueryTTL: time.Hour, StoreTimeout: time.Second, TransactionWait: time.Millisecond,
	})
	return p.DryRun(ctx, req), nil
}

type assumeHealthy struct{}

func (assumeHealthy) State(string) health.State { return health.Healthy }
func (assumeHealthy) Status(string) (health.Status, bool) {
	return health.Status{State: health.Healthy}, true
}

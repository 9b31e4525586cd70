package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchyard-gw/switchyard/pkg/admission"
	"github.com/switchyard-gw/switchyard/pkg/config"
	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/health"
	"github.com/switchyard-gw/switchyard/pkg/policy"
	"github.com/switchyard-gw/switchyard/pkg/routing"
	"github.com/switchyard-gw/switchyard/pkg/store"
)

func newPolicyEvalCmd() *cobra.Command {
	admin := &adminOptions{}
	var (
		user, source, sql, cfgPath, dir string
		headers                         []string
	)
	c := &cobra.Command{
		Use:   "eval --user U [--source S] --sql SQL [--header K=V ...]",
		Short: "What the gateway would decide for a query, and why",
		Long: `What the gateway would decide for a query, and why: live, through the admin
API (--admin, --token), or locally against a configuration file's fleet
(--config FILE [--dir DIR]), with every cluster assumed healthy.`,
		Example: `  switchyard policy eval --user alice --sql "..."
  switchyard policy eval --config fleet.yaml --user alice --source dbt --sql "SELECT * FROM hive.sales.orders"`,
		Args: positional(),
	}
	admin.addFlags(c.Flags())
	c.Flags().StringVar(&user, "user", "", "X-Trino-User")
	c.Flags().StringVar(&source, "source", "", "X-Trino-Source")
	c.Flags().StringVar(&sql, "sql", "", "the SQL text")
	c.Flags().StringArrayVar(&headers, "header", nil, "another request header `K=V` (repeatable)")
	c.Flags().StringVar(&cfgPath, "config", "", "decide locally against this configuration's fleet (every cluster assumed healthy; no external router or cost estimates: ask the live gateway for those)")
	c.Flags().StringVar(&dir, "dir", "", "with --config: the policy directory (default: the configuration's policy.dir)")
	c.RunE = func(c *cobra.Command, _ []string) error {
		req := admission.DryRunRequest{SQL: sql, Headers: map[string]string{}}
		if user != "" {
			req.Headers["X-Trino-User"] = user
		}
		if source != "" {
			req.Headers["X-Trino-Source"] = source
		}
		for _, h := range headers {
			k, v, ok := strings.Cut(h, "=")
			if !ok {
				return usageErrorf(c, "--header %q is not K=V", h)
			}
			req.Headers[k] = v
		}
		var res *admission.DryRunResult
		if cfgPath != "" {
			var err error
			if res, err = localDryRun(c.Context(), cfgPath, dir, req); err != nil {
				return err
			}
		} else if err := admin.client(c).do(c.Context(), http.MethodPost, "/api/v1/policy/eval", req, &res); err != nil {
			return err
		}
		printDryRun(c.OutOrStdout(), res)
		return nil
	}
	return c
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
// coordinator healthy. It is the only place the CLI builds the decision
// pipeline (admission, routing, store, health).
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
		compiled, err := policy.Compile(ctx, b)
		if err != nil {
			return nil, err
		}
		eng = policy.NewEngine(compiled, nil)
	}
	h := assumeHealthy{}
	p := admission.New(admission.Options{
		Router: routing.New(fleet.FromConfig(cfg), h), Queries: store.NewMemory().Queries, Policy: eng, Health: h,
		QueryTTL: time.Hour, StoreTimeout: time.Second, TransactionWait: time.Millisecond,
	})
	return p.DryRun(ctx, req), nil
}

// assumeHealthy is the health view of a local dry run: every coordinator
// healthy.
type assumeHealthy struct{}

func (assumeHealthy) State(string) health.State { return health.Healthy }
func (assumeHealthy) Status(string) (health.Status, bool) {
	return health.Status{State: health.Healthy}, true
}

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/config"
	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/lifecycle"
)

// adminClient talks to the control plane's admin API.
type adminClient struct {
	base  string
	token string
	http  *http.Client
}

// adminFlags adds --admin and --token (defaults from SWITCHYARD_ADMIN and
// SWITCHYARD_TOKEN).
func adminFlags(fs *flag.FlagSet) func() *adminClient {
	def := os.Getenv("SWITCHYARD_ADMIN")
	if def == "" {
		def = "http://127.0.0.1:9080"
	}
	base := fs.String("admin", def, "admin API address (env SWITCHYARD_ADMIN)")
	token := fs.String("token", os.Getenv("SWITCHYARD_TOKEN"), "bearer token (env SWITCHYARD_TOKEN)")
	return func() *adminClient {
		b := strings.TrimRight(*base, "/")
		if !strings.Contains(b, "://") {
			b = "http://" + b
		}
		return &adminClient{base: b, token: *token, http: &http.Client{Timeout: 5 * time.Minute}}
	}
}

// APIError is an error answer of the admin API.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string { return fmt.Sprintf("admin API: %s (HTTP %d)", e.Message, e.Status) }

func (c *adminClient) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("admin API at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		return &APIError{Status: resp.StatusCode, Message: e.Error}
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

const clusterUsage = `Usage: switchyard cluster COMMAND [flags]

  list                                 clusters with state, health and load
  add NAME --group G --coordinator URL [--standby URL] [--weight N] [--inactive]
  remove NAME [--force]                remove (it must be inactive or drained unless forced)
  activate NAME                        take new queries
  deactivate NAME                      stop new queries now (running ones go on)
  drain NAME [--timeout D] [--shutdown-workers] [--wait]
                                       stop new queries, wait for running and queued ones
  weight NAME N                        set the weight within the group

Every command takes --admin URL and --token TOKEN (env SWITCHYARD_ADMIN, SWITCHYARD_TOKEN).
`

func clusterCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, clusterUsage)
		return ErrUsage
	}
	verb, args := args[0], args[1:]
	fs := newFlags("cluster "+verb, stderr)
	client := adminFlags(fs)
	var name string
	// parseWithName parses flags given before or after the cluster name;
	// positional is how many arguments the command takes (name included),
	// and args keeps the ones after the name.
	parseWithName := func(positional int) error {
		if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
			name, args = args[0], args[1:]
		}
		if err := fs.Parse(args); err != nil {
			return ErrUsage
		}
		rest := fs.Args()
		if name == "" && len(rest) > 0 {
			name, rest = rest[0], rest[1:]
		}
		got := len(rest)
		if name != "" {
			got++
		}
		if got != positional {
			fmt.Fprintf(stderr, "cluster %s: wrong arguments\n\n%s", verb, clusterUsage)
			return ErrUsage
		}
		args = rest
		return nil
	}
	switch verb {
	case "list":
		asJSON := fs.Bool("json", false, "print JSON")
		if err := parseWithName(0); err != nil {
			return err
		}
		var cs []lifecycle.ClusterView
		if err := client().do(ctx, http.MethodGet, "/api/v1/clusters", nil, &cs); err != nil {
			return err
		}
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(cs)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tGROUP\tSTATE\tHEALTH\tRUNNING\tQUEUED\tWORKERS\tWEIGHT\tCOORDINATORS")
		for _, c := range cs {
			var cos []string
			for _, co := range c.Coordinators {
				mark := ""
				if co.Primary {
					mark = "*"
				}
				cos = append(cos, fmt.Sprintf("%s%s=%s(%s)", mark, co.Name, co.URL, co.HealthIs))
			}
			load := func(n int) string {
				if !c.Load.Known {
					return "?"
				}
				return fmt.Sprint(n)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", c.Name, c.Group, c.State, c.Health,
				load(c.Load.Running), load(c.Load.Queued), load(c.Load.ActiveWorkers), c.Weight, strings.Join(cos, " "))
		}
		return tw.Flush()
	case "add":
		group := fs.String("group", "", "routing group")
		var coords, standbys multi
		fs.Var(&coords, "coordinator", "active coordinator URL (repeatable)")
		fs.Var(&standbys, "standby", "standby coordinator URL (repeatable)")
		weight := fs.Int("weight", config.DefaultWeight, "weight within the group")
		inactive := fs.Bool("inactive", false, "add it inactive (no new queries until activated)")
		if err := parseWithName(1); err != nil {
			return err
		}
		c := config.Cluster{Name: name, Group: *group, Weight: weight}
		for _, u := range coords {
			c.Coordinators = append(c.Coordinators, config.Coordinator{URL: u, Role: config.RoleActive})
		}
		for _, u := range standbys {
			c.Coordinators = append(c.Coordinators, config.Coordinator{URL: u, Role: config.RoleStandby})
		}
		if *inactive {
			c.State = config.StateInactive
		}
		var v lifecycle.ClusterView
		if err := client().do(ctx, http.MethodPost, "/api/v1/clusters", c, &v); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "cluster %s added to group %s (%s)\n", v.Name, v.Group, v.State)
		return nil
	case "remove":
		force := fs.Bool("force", false, "remove even if it still takes queries")
		if err := parseWithName(1); err != nil {
			return err
		}
		path := "/api/v1/clusters/" + url.PathEscape(name)
		if *force {
			path += "?force=true"
		}
		if err := client().do(ctx, http.MethodDelete, path, nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "cluster %s removed\n", name)
		return nil
	case "activate", "deactivate":
		if err := parseWithName(1); err != nil {
			return err
		}
		var v lifecycle.ClusterView
		if err := client().do(ctx, http.MethodPost, "/api/v1/clusters/"+url.PathEscape(name)+"/"+verb, nil, &v); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "cluster %s is %s\n", v.Name, v.State)
		return nil
	case "weight":
		if err := parseWithName(2); err != nil {
			return err
		}
		var w int
		if _, err := fmt.Sscan(args[0], &w); err != nil {
			fmt.Fprintf(stderr, "cluster weight: %q is not a number\n", args[0])
			return ErrUsage
		}
		var v lifecycle.ClusterView
		if err := client().do(ctx, http.MethodPut, "/api/v1/clusters/"+url.PathEscape(name)+"/weight", map[string]int{"weight": w}, &v); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "cluster %s weight %d\n", v.Name, v.Weight)
		return nil
	case "drain":
		timeout := fs.Duration("timeout", 0, "how long the drain may take (default: admin.drainTimeout)")
		shutdown := fs.Bool("shutdown-workers", false, "shut the workers down gracefully once drained")
		wait := fs.Bool("wait", false, "wait until drained, showing progress; exit non-zero if the drain times out")
		if err := parseWithName(1); err != nil {
			return err
		}
		c := client()
		body := map[string]any{"shutdownWorkers": *shutdown}
		if *timeout > 0 {
			body["timeout"] = timeout.String()
		}
		if err := c.do(ctx, http.MethodPost, "/api/v1/clusters/"+url.PathEscape(name)+"/drain", body, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "cluster %s is draining: no new queries\n", name)
		if !*wait {
			return nil
		}
		return waitDrained(ctx, c, []string{name}, stdout)
	}
	fmt.Fprintf(stderr, "unknown cluster command %q\n\n%s", verb, clusterUsage)
	return ErrUsage
}

// ErrDrainTimedOut is returned by --wait when a drain's deadline passed.
var ErrDrainTimedOut = errors.New("drain timed out")

// waitDrained polls until every named cluster is drained, printing
// progress when it changes.
func waitDrained(ctx context.Context, c *adminClient, names []string, stdout io.Writer) error {
	last := map[string]string{}
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		done := 0
		for _, name := range names {
			var v lifecycle.ClusterView
			if err := c.do(ctx, http.MethodGet, "/api/v1/clusters/"+url.PathEscape(name), nil, &v); err != nil {
				return err
			}
			d := v.Drain
			var line string
			switch {
			case v.State == fleet.Drained:
				line = fmt.Sprintf("cluster %s drained after %v", name, d.Finished.Sub(d.Started).Round(time.Second))
				done++
			case v.State != fleet.Draining || d == nil:
				return fmt.Errorf("cluster %s is %s, not draining", name, v.State)
			case d.TimedOut:
				fmt.Fprintf(stdout, "cluster %s: drain timed out at %s with %d running and %d queued:\n  %s\n",
					name, d.Deadline.Format(time.RFC3339), d.Running, d.Queued, strings.Join(d.Remaining, "\n  "))
				return fmt.Errorf("%w: cluster %s still has queries (it stays draining)", ErrDrainTimedOut, name)
			case d.Running < 0:
				line = fmt.Sprintf("cluster %s draining: counting queries", name)
			default:
				line = fmt.Sprintf("cluster %s draining: %d running, %d queued (%v so far)", name, d.Running, d.Queued, time.Since(d.Started).Round(time.Second))
			}
			if line != last[name] {
				fmt.Fprintln(stdout, line)
				last[name] = line
			}
		}
		if done == len(names) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func blueGreenCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bluegreen", stderr)
	client := adminFlags(fs)
	group := fs.String("group", "", "routing group to move")
	to := fs.String("to", "", "clusters to move it to, comma separated")
	healthTimeout := fs.Duration("health-timeout", 2*time.Minute, "how long to wait for the new clusters to be healthy")
	drainTimeout := fs.Duration("drain-timeout", 0, "how long the old clusters may take to drain (default: admin.drainTimeout)")
	wait := fs.Bool("wait", true, "wait until the old clusters are drained")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *group == "" || *to == "" {
		fmt.Fprintln(stderr, "bluegreen: --group and --to are required")
		return ErrUsage
	}
	body := map[string]any{"group": *group, "to": strings.Split(*to, ","), "healthTimeout": healthTimeout.String()}
	if *drainTimeout > 0 {
		body["drainTimeout"] = drainTimeout.String()
	}
	c := client()
	var rep lifecycle.BlueGreenReport
	if err := c.do(ctx, http.MethodPost, "/api/v1/bluegreen", body, &rep); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "group %s: %s active and healthy after %v; draining %s\n", rep.Group,
		strings.Join(rep.Activated, ", "), time.Duration(rep.HealthyMS)*time.Millisecond, orNone(rep.Draining))
	if !*wait || len(rep.Draining) == 0 {
		return nil
	}
	return waitDrained(ctx, c, rep.Draining, stdout)
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "nothing"
	}
	return strings.Join(s, ", ")
}

// multi is a repeatable string flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

package harness

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/trinosize"
)

// TrinoCluster is a multi-node Trino cluster on this machine: one
// coordinator that schedules no tasks and N workers, each its own process
// with its own etc and data directories and node ID, all started from the
// profiles of deploy/trino/profiles and sized by pkg/trinosize (what
// `switchyard trino config` prints). The nodes share a Hive catalog "lake"
// on a local directory (a data lake every node sees) and, with FTE, the
// exchange directory.
type TrinoCluster struct {
	Name        string
	Coordinator *Trino
	Workers     []*Trino
	URL         string // the coordinator's
	EventSecret string
	// LakeDir, ExchangeDir and SpillDir are the shared lake, the exchange
	// manager's directory (FTE) and the spill root (each node spills
	// below it in its own directory).
	LakeDir, ExchangeDir, SpillDir string
	env                            *Env
	opts                           TrinoClusterOptions
}

// TrinoClusterOptions shape a TrinoCluster.
type TrinoClusterOptions struct {
	Workers int // default 2
	// NodeMemory and Cores are the size each node is computed for
	// (trinosize.Input); default 2GiB and 2 (a 1408MiB heap).
	NodeMemory int64
	Cores      int
	FTE        bool // profiles/fte.properties + exchange-manager.properties
	Spill      bool // profiles/spill.properties
	// Extra lines override any config.properties key on every node
	// (e.g. test timings); CoordinatorExtra and WorkerExtra on those only.
	Extra, CoordinatorExtra, WorkerExtra []string
	// JVMExtra lines are appended to every node's jvm.config.
	JVMExtra []string
	// Files are extra or replacement files of every node's etc directory
	// (templates like TrinoOptions.Files).
	Files map[string]string
	// GatewayUser is the identity allowed to shut workers down (rules.json);
	// default "switchyard", the control plane's.
	GatewayUser string
}

// StartTrinoCluster starts a coordinator and its workers. Call WaitReady
// before sending queries.
func (e *Env) StartTrinoCluster(name string, o TrinoClusterOptions) (*TrinoCluster, error) {
	if strings.ContainsAny(name, ",:") {
		return nil, fmt.Errorf("trino name %q: ',' and ':' cannot be in its event secret", name)
	}
	if o.Workers == 0 {
		o.Workers = 2
	}
	if o.NodeMemory == 0 {
		o.NodeMemory = 2 << 30
	}
	if o.Cores == 0 {
		o.Cores = 2
	}
	if o.GatewayUser == "" {
		o.GatewayUser = "switchyard"
	}
	base := filepath.Join(e.Dir, name)
	c := &TrinoCluster{Name: name, env: e, opts: o, EventSecret: "events-secret-" + name,
		LakeDir: filepath.Join(base, "lake"), ExchangeDir: filepath.Join(base, "exchange"), SpillDir: filepath.Join(base, "spill")}
	for _, d := range []string{c.LakeDir, c.ExchangeDir, c.SpillDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	c.URL = fmt.Sprintf("http://127.0.0.1:%d", port)
	co, err := c.startNode(name, trinosize.Coordinator, port)
	if err != nil {
		return nil, err
	}
	c.Coordinator = co
	e.addEventSecret(c.URL, c.EventSecret)
	for i := range o.Workers {
		w, err := c.startWorker(fmt.Sprintf("%s-w%d", name, i+1))
		if err != nil {
			c.Stop() // the nodes already started
			return nil, err
		}
		c.Workers = append(c.Workers, w)
	}
	return c, nil
}

func (c *TrinoCluster) startWorker(node string) (*Trino, error) {
	p, err := FreePort()
	if err != nil {
		return nil, err
	}
	return c.startNode(node, trinosize.Worker, p)
}

// Procs are the cluster's processes (coordinator first).
func (c *TrinoCluster) Procs() []*Proc {
	out := []*Proc{c.Coordinator.Proc}
	for _, w := range c.Workers {
		out = append(out, w.Proc)
	}
	return out
}

// Stop stops every node.
func (c *TrinoCluster) Stop() {
	for i := len(c.Workers) - 1; i >= 0; i-- {
		c.Workers[i].Stop()
	}
	c.Coordinator.Stop()
}

// RestartWorker starts a stopped or killed worker again (same port, etc
// and data directories).
func (c *TrinoCluster) RestartWorker(i int) error {
	w := c.Workers[i]
	if !w.Exited() {
		return fmt.Errorf("%s is still running", w.Name)
	}
	nw, err := c.startNode(w.Name, trinosize.Worker, w.Port)
	if err != nil {
		return err
	}
	c.Workers[i] = nw
	return nil
}

func (c *TrinoCluster) startNode(node string, role trinosize.Role, port int) (*Trino, error) {
	e, o := c.env, c.opts
	dir := filepath.Join(e.Dir, c.Name, node)
	etc, data := filepath.Join(dir, "etc"), filepath.Join(dir, "data")
	for _, d := range []string{filepath.Join(etc, "catalog"), data} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	relay, err := e.Events()
	if err != nil {
		return nil, err
	}
	spill := filepath.Join(c.SpillDir, node)
	vars := map[string]any{
		"Port": port, "DiscoveryURI": c.URL, "Etc": etc, "DataDir": data, "NodeID": node,
		"Environment": "switchyard", "ExchangeDir": c.ExchangeDir, "SpillDir": spill, "LakeDir": c.LakeDir,
		"GatewayUser": o.GatewayUser, "EventsURL": relay.IngestURL(), "EventSecret": c.EventSecret,
	}
	sized, err := trinosize.Compute(trinosize.Input{
		Memory: o.NodeMemory, Cores: o.Cores, Role: role, Workers: o.Workers,
		FTE: o.FTE, Spill: o.Spill, ExchangeDir: c.ExchangeDir, SpillDir: spill,
	})
	if err != nil {
		return nil, err
	}
	profiles := filepath.Join(e.Root, "deploy", "trino", "profiles")
	roleFile := "worker.properties"
	extra := o.WorkerExtra
	if role == trinosize.Coordinator {
		roleFile, extra = "coordinator.properties", o.CoordinatorExtra
	}
	// config.properties: the role's profile, then FTE or spill, then the
	// calculator's sizing, then the test's own lines; a later key replaces
	// an earlier one in place.
	var layers []string
	for _, f := range []string{roleFile, map[bool]string{true: "fte.properties"}[o.FTE], map[bool]string{true: "spill.properties"}[o.Spill]} {
		if f == "" {
			continue
		}
		text, err := renderString(filepath.Join(profiles, f), vars)
		if err != nil {
			return nil, err
		}
		layers = append(layers, text)
	}
	cfg, _ := sized.File("config.properties")
	layers = append(layers, string(cfg.Render()), strings.Join(o.Extra, "\n"), strings.Join(extra, "\n"))
	if err := os.WriteFile(filepath.Join(etc, "config.properties"), []byte(MergeProperties(layers...)), 0o644); err != nil {
		return nil, err
	}
	jvm, _ := sized.File("jvm.config")
	jvmText := string(jvm.Render()) + strings.Join(o.JVMExtra, "\n") + "\n"
	if err := os.WriteFile(filepath.Join(etc, "jvm.config"), []byte(jvmText), 0o644); err != nil {
		return nil, err
	}
	if o.FTE {
		// The profile's file, with the calculator's buffer sizing.
		text, err := renderString(filepath.Join(profiles, "exchange-manager.properties"), vars)
		if err != nil {
			return nil, err
		}
		ex, _ := sized.File("exchange-manager.properties")
		if err := os.WriteFile(filepath.Join(etc, "exchange-manager.properties"), []byte(MergeProperties(text, string(ex.Render()))), 0o644); err != nil {
			return nil, err
		}
	}
	if o.Spill {
		if err := os.MkdirAll(spill, 0o755); err != nil {
			return nil, err
		}
	}
	src := filepath.Join(e.Root, "deploy", "trino")
	files := map[string]string{
		"node.properties":           filepath.Join(src, "node.properties"),
		"access-control.properties": filepath.Join(profiles, "access-control.properties"),
		"rules.json":                filepath.Join(profiles, "rules.json"),
		"catalog/tpch.properties":   filepath.Join(src, "catalog", "tpch.properties"),
		"catalog/memory.properties": filepath.Join(src, "catalog", "memory.properties"),
		"catalog/lake.properties":   filepath.Join(src, "catalog", "lake.properties"),
	}
	if role == trinosize.Coordinator {
		files["http-event-listener.properties"] = filepath.Join(src, "http-event-listener.properties")
	}
	for dst, from := range files {
		if _, replaced := o.Files[dst]; replaced {
			continue
		}
		if err := renderFile(from, filepath.Join(etc, dst), vars); err != nil {
			return nil, err
		}
	}
	for name, content := range o.Files {
		if content == "" { // an empty replacement removes the file
			_ = os.Remove(filepath.Join(etc, name))
			continue
		}
		if err := renderText(name, content, filepath.Join(etc, name), vars); err != nil {
			return nil, err
		}
	}
	p, err := e.startLauncher(node, etc, data)
	if err != nil {
		return nil, err
	}
	return &Trino{Proc: p, Name: node, Port: port, URL: fmt.Sprintf("http://127.0.0.1:%d", port), EventSecret: c.EventSecret, env: e}, nil
}

// MergeProperties joins properties texts: comments and keys keep the order
// of their first appearance, and a key set again by a later text takes the
// later value in place (its own comment lines are dropped).
func MergeProperties(texts ...string) string {
	type line struct{ text, key string }
	var out []line
	at := map[string]int{}
	for _, t := range texts {
		var pending []string
		sc := bufio.NewScanner(strings.NewReader(t))
		for sc.Scan() {
			l := sc.Text()
			trimmed := strings.TrimSpace(l)
			if trimmed == "" || strings.HasPrefix(trimmed, "#") || strings.HasPrefix(trimmed, "!") {
				pending = append(pending, l)
				continue
			}
			key, _, _ := strings.Cut(trimmed, "=")
			key = strings.TrimSpace(key)
			if i, ok := at[key]; ok {
				out[i].text = l
				pending = nil
				continue
			}
			for _, p := range pending {
				out = append(out, line{text: p})
			}
			pending = nil
			at[key] = len(out)
			out = append(out, line{text: l, key: key})
		}
	}
	var b strings.Builder
	for _, l := range out {
		b.WriteString(l.text)
		b.WriteByte('\n')
	}
	return b.String()
}

// WaitReady waits until the coordinator runs a query and every worker is
// an active node.
func (c *TrinoCluster) WaitReady(ctx context.Context, timeout time.Duration) error {
	return c.WaitWorkers(ctx, len(c.Workers), timeout)
}

// WaitWorkers waits until exactly n workers are active (system.runtime.nodes
// without the coordinator); a node whose server refused to start, or an
// exited coordinator, ends the wait at once.
func (c *TrinoCluster) WaitWorkers(ctx context.Context, n int, timeout time.Duration) error {
	return Poll(ctx, fmt.Sprintf("%s with %d active workers", c.Name, n), timeout, 250*time.Millisecond, func() error {
		for _, p := range c.Procs() {
			if p.Exited() && (p == c.Coordinator.Proc || n == len(c.Workers)) {
				return Permanent(fmt.Errorf("%s exited:\n%s", p.Name, p.Tail(30)))
			}
			if err := startupFailed(p); err != nil {
				return Permanent(err)
			}
		}
		active, err := c.ActiveWorkers(ctx)
		if err != nil {
			return err
		}
		if len(active) != n {
			return fmt.Errorf("active workers: %v", active)
		}
		return nil
	})
}

// ActiveWorkers lists the node IDs of the active workers, sorted.
func (c *TrinoCluster) ActiveWorkers(ctx context.Context) ([]string, error) {
	rows, err := RunQuery(ctx, c.URL, "harness", "SELECT node_id FROM system.runtime.nodes WHERE NOT coordinator AND state = 'active'", nil)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range rows {
		out = append(out, fmt.Sprint(r[0]))
	}
	sort.Strings(out)
	return out, nil
}

// WorkerByPort is the worker listening on port (nil: none).
func (c *TrinoCluster) WorkerByPort(port string) *Trino {
	for _, w := range c.Workers {
		if fmt.Sprint(w.Port) == port {
			return w
		}
	}
	return nil
}

// startupFailed reports a node whose server refused to start (Trino logs
// the reason and may keep the JVM alive).
func startupFailed(p *Proc) error {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return nil
	}
	for _, marker := range []string{"\tio.trino.server.Server\tConfiguration is invalid", "\tio.trino.server.Server\tUnable to create injector"} {
		if i := strings.Index(string(b), marker); i >= 0 {
			return fmt.Errorf("%s did not start:\n%s", p.Name, clipLog(string(b[i:]), 1500))
		}
	}
	return nil
}

func clipLog(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

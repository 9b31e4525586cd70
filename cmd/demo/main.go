// Command demo runs the main job of Switchyard on one machine (`make demo`):
// Redis, two single-node Trino clusters, the control plane and Envoy, then a
// query through the gateway. Ctrl-C stops everything.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/switchyard-gw/switchyard/e2e/harness"
	"github.com/switchyard-gw/switchyard/pkg/config"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "client address (Envoy listener)")
	admin := flag.String("admin", "127.0.0.1:9080", "control-plane admin address")
	once := flag.Bool("once", false, "stop after the first query instead of waiting for Ctrl-C")
	workers := flag.Int("workers", 0, "run each cluster as a coordinator and this many workers (deploy/trino/profiles, fault-tolerant execution) instead of one node")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *listen, *admin, *once, *workers); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, listen, admin string, once bool, workers int) error {
	dir, err := filepath.Abs(filepath.Join(".cache", "demo"))
	if err != nil {
		return err
	}
	_ = os.RemoveAll(dir)
	env, err := harness.NewEnv(dir)
	if err != nil {
		return err
	}
	defer func() {
		fmt.Println("demo: stopping every process")
		env.StopAll()
		fmt.Println("demo: stopped; logs are in", dir)
	}()
	step := func(format string, args ...any) { fmt.Printf("demo: "+format+"\n", args...) }

	step("starting Redis")
	redis, err := env.StartRedis(ctx, "redis")
	if err != nil {
		return err
	}
	urls, err := startClusters(ctx, env, workers, step)
	if err != nil {
		return err
	}
	// Two routing groups: ad-hoc queries on blue, ETL tools' on green
	// (the shipped policy routes by X-Trino-Source); ad-hoc falls back to
	// etl when blue is down.
	cfg := harness.GatewayConfig{
		ListenerAddr: listen, AdminAddr: admin, RedisAddr: redis.Addr,
		DefaultGroup: "adhoc", Groups: []string{"adhoc", "etl"}, Fallbacks: map[string]string{"adhoc": "etl"},
		Clusters: []harness.ClusterSpec{
			{Name: "blue", Group: "adhoc", Coordinators: []harness.CoordinatorSpec{{URL: urls[0]}}},
			{Name: "green", Group: "etl", Coordinators: []harness.CoordinatorSpec{{URL: urls[1]}}},
		},
		// The shipped policy: routing rules, workload classes (each query
		// is governed; Trino's event listener reports completions) and
		// query protection; an admin and a viewer token for the console.
		Extra: map[string]any{
			"policy": map[string]any{"dir": filepath.Join(env.Root, "policies")},
			"admin": map[string]any{"tokens": []map[string]any{
				{"name": "demo", "tokenHash": config.HashToken(demoToken), "role": "admin"},
				{"name": "demo-viewer", "tokenHash": config.HashToken(demoViewerToken), "role": "viewer"},
			}},
		},
	}
	step("starting the switchyard control plane (admin http://%s)", admin)
	cp, err := env.StartSwitchyard(ctx, "switchyard", cfg)
	if err != nil {
		return err
	}
	step("starting Envoy (configuration over xDS from %s)", cp.XDSAddr)
	en, err := env.StartEnvoy(ctx, "envoy", cp.XDSAddr, listen)
	if err != nil {
		return err
	}
	if err := en.WaitHealthy(ctx, "trino_blue", "trino_green"); err != nil {
		return err
	}
	cli := fmt.Sprintf("%s/bin/java -jar %s --server http://%s --user demo", env.JavaHome, env.TrinoCLIPath(), listen)
	fmt.Printf("\nswitchyard ready: http://%s\n  try: %s --execute \"SELECT * FROM tpch.tiny.region\"\n  python: trino.dbapi.connect(host=\"127.0.0.1\", port=%s, user=\"demo\")\n\n",
		listen, cli, listen[strings.LastIndex(listen, ":")+1:])

	sql := "SELECT r.name AS region, count(*) AS nations FROM tpch.tiny.nation n JOIN tpch.tiny.region r ON n.regionkey = r.regionkey GROUP BY r.name ORDER BY r.name"
	step("running a query through the gateway with the trino CLI:\n  %s", sql)
	out, err := exec.CommandContext(ctx, env.JavaHome+"/bin/java", "--enable-native-access=ALL-UNNAMED", "-jar", env.TrinoCLIPath(),
		"--server", "http://"+listen, "--user", "demo", "--output-format", "ALIGNED", "--execute", sql).CombinedOutput()
	fmt.Println(filterCLI(string(out)))
	if err != nil {
		return fmt.Errorf("query through the gateway failed: %v", err)
	}
	// A query an ETL tool sends goes to the etl group, by its source.
	cliAs := func(source, sql string) (string, error) {
		out, err := exec.CommandContext(ctx, env.JavaHome+"/bin/java", "--enable-native-access=ALL-UNNAMED", "-jar", env.TrinoCLIPath(),
			"--server", "http://"+listen, "--user", "demo", "--source", source, "--output-format", "ALIGNED", "--execute", sql).CombinedOutput()
		return strings.TrimSpace(filterCLI(string(out))), err
	}
	etlSQL := "SELECT count(*) AS orders FROM tpch.tiny.orders"
	step("an ETL tool's query (--source airflow):\n  %s", etlSQL)
	if out, err := cliAs("airflow", etlSQL); err != nil {
		return fmt.Errorf("the ETL query failed: %v: %s", err, out)
	} else {
		fmt.Println(out)
	}
	if d, err := lastDecision(ctx, admin, "airflow"); err == nil {
		step("it went to group %s, cluster %s: %s", d.Group, d.Cluster, strings.Join(d.Explanation, "; "))
	}
	// An AI agent may not change data: refused, with the policy's reason.
	agentSQL := "CREATE TABLE memory.default.agent_notes AS SELECT 1 AS x"
	step("an AI agent's write (--source claude-agent), which the shipped policy refuses:\n  %s", agentSQL)
	if out, err := cliAs("claude-agent", agentSQL); err == nil {
		return fmt.Errorf("the agent's write was not refused: %s", out)
	} else {
		fmt.Println(out)
	}

	fmt.Printf(`
the web console: http://%[1]s/console/
  sign in with the admin token %[2]s (or the viewer token %[3]s)

try:
  %[4]s --source airflow --execute "SELECT count(*) FROM tpch.tiny.lineitem"   (the etl group, on green)
  %[4]s --source claude-agent --execute "DELETE FROM memory.default.t"          (refused: AI agents may not change data)
  %[5]s cluster list --admin http://%[1]s --token %[2]s
  %[5]s cluster drain blue --admin http://%[1]s --token %[2]s     (watch it in the console; new ad-hoc queries fall back to etl)
  %[5]s cluster activate blue --admin http://%[1]s --token %[2]s
  %[5]s governance usage --admin http://%[1]s --token %[2]s        (workload classes from policies/data.json)
  %[5]s doctor --admin http://%[1]s --token %[2]s                  (the clusters' configuration checked)
  curl -s http://%[1]s/metrics | grep switchyard_cluster_up
logs: %[6]s

`, admin, demoToken, demoViewerToken, cli, env.Bin, dir)
	if once {
		return nil
	}
	step("press Ctrl-C to stop")
	<-ctx.Done()
	return nil
}

// demoToken is the demo's admin API token (an admin role, for trying the
// API and the CLI; a real deployment takes tokens from the environment).
const demoToken = "demo-admin-token"

// demoViewerToken signs in to the console with the viewer role.
const demoViewerToken = "demo-viewer-token"

// decision is the part of a decision log entry the demo prints.
type decision struct {
	Source      string   `json:"source"`
	Group       string   `json:"group"`
	Cluster     string   `json:"cluster"`
	Explanation []string `json:"explanation"`
}

// lastDecision reads the newest decision about a query from source.
func lastDecision(ctx context.Context, admin, source string) (decision, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+admin+"/api/v1/decisions?limit=20", nil)
	if err != nil {
		return decision{}, err
	}
	req.Header.Set("Authorization", "Bearer "+demoToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return decision{}, err
	}
	defer resp.Body.Close()
	var ds []decision
	if err := json.NewDecoder(resp.Body).Decode(&ds); err != nil {
		return decision{}, err
	}
	for _, d := range ds {
		if d.Source == source {
			return d, nil
		}
	}
	return decision{}, fmt.Errorf("no decision about a query from %s", source)
}

// filterCLI drops the JLine warning the CLI prints without a terminal.
func filterCLI(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, "org.jline") || strings.Contains(l, "Unable to create a system terminal") {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}

// startClusters starts the demo's two Trino clusters, blue and green: one
// node each, or (workers > 0) a coordinator and that many workers from the
// profiles with fault-tolerant execution. It returns their coordinators'
// URLs.
func startClusters(ctx context.Context, env *harness.Env, workers int, step func(string, ...any)) ([]string, error) {
	names := []string{"trino-blue", "trino-green"}
	var urls []string
	if workers > 0 {
		step("starting two Trino %s clusters of a coordinator and %d workers (a minute or more on a small machine)", env.Versions["TRINO_VERSION"], workers)
		var cs []*harness.TrinoCluster
		for _, name := range names {
			c, err := env.StartTrinoCluster(name, harness.TrinoClusterOptions{Workers: workers, FTE: true})
			if err != nil {
				return nil, err
			}
			cs = append(cs, c)
		}
		for _, c := range cs {
			if err := c.WaitReady(ctx, 5*time.Minute); err != nil {
				return nil, err
			}
			step("%s is up at %s with %d workers", c.Name, c.URL, len(c.Workers))
			urls = append(urls, c.URL)
		}
		return urls, nil
	}
	step("starting two Trino %s clusters (tens of seconds on a small machine)", env.Versions["TRINO_VERSION"])
	var clusters []*harness.Trino
	for _, name := range names {
		t, err := env.StartTrino(name, harness.TrinoOptions{})
		if err != nil {
			return nil, err
		}
		clusters = append(clusters, t)
	}
	for _, t := range clusters {
		if err := t.WaitReady(ctx, 4*time.Minute); err != nil {
			return nil, err
		}
		step("%s is up at %s", t.Name, t.URL)
		urls = append(urls, t.URL)
	}
	return urls, nil
}

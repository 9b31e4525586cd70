// Command demo runs the main job of Switchyard on one machine (`make demo`):
// Redis, two single-node Trino clusters, the control plane and Envoy, then a
// query through the gateway. Ctrl-C stops everything.
package main

import (
	"context"
	"flag"
	"fmt"
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
	cfg := harness.GatewayConfig{
		ListenerAddr: listen, AdminAddr: admin, RedisAddr: redis.Addr,
		DefaultGroup: "adhoc", Groups: []string{"adhoc"},
		Clusters: []harness.ClusterSpec{
			{Name: "blue", Group: "adhoc", Coordinators: []harness.CoordinatorSpec{{URL: urls[0]}}},
			{Name: "green", Group: "adhoc", Coordinators: []harness.CoordinatorSpec{{URL: urls[1]}}},
		},
		// The shipped policy: routing rules and workload classes (each
		// query is governed; Trino's event listener reports completions).
		Extra: map[string]any{
			"policy": map[string]any{"dir": filepath.Join(env.Root, "policies")},
			"admin":  map[string]any{"tokens": []map[string]any{{"name": "demo", "tokenHash": config.HashToken(demoToken), "role": "admin"}}},
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
	step("governance (workload classes from policies/data.json): %s governance usage --admin http://%s --token %s", env.Bin, admin, demoToken)
	step("the clusters' configuration checked: %s doctor --admin http://%s --token %s", env.Bin, admin, demoToken)
	step("logs: %s", dir)
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

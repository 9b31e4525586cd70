package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/e2e/harness"
)

// gateway is one Redis, one or more control-plane replicas and one Envoy
// per replica, started for a single test and stopped at its end.
type gateway struct {
	redis  *harness.Redis
	cps    []*harness.Switchyard
	envoys []*harness.Envoy
	procs  []*harness.Proc
}

// URL is the client address of the i-th Envoy.
func (g *gateway) URL(i int) string { return "http://" + g.cps[i].ListenerAddr }

// twoClusters is the usual fleet: clusters a and b in group adhoc, plus an
// etl group whose only cluster has a coordinator that is not running.
func twoClusters(deadURL string) harness.GatewayConfig {
	return harness.GatewayConfig{
		DefaultGroup: "adhoc",
		Groups:       []string{"adhoc", "etl"},
		Clusters: []harness.ClusterSpec{
			{Name: "a", Group: "adhoc", Coordinators: []harness.CoordinatorSpec{{URL: trinoA.URL}}},
			{Name: "b", Group: "adhoc", Coordinators: []harness.CoordinatorSpec{{URL: trinoB.URL}}},
			{Name: "dead", Group: "etl", Coordinators: []harness.CoordinatorSpec{{URL: deadURL}}},
		},
	}
}

// startGateway starts Redis, `replicas` control planes sharing it and one
// Envoy per control plane, and waits until Envoy's own health checks pass
// for clusters a and b.
func startGateway(t *testing.T, replicas int, cfg harness.GatewayConfig) *gateway {
	t.Helper()
	return startGatewayFor(t, replicas, cfg, "trino_a", "trino_b")
}

// startGatewayWithClusters is one replica, waiting for the named Envoy
// clusters to be healthy.
func startGatewayWithClusters(t *testing.T, cfg harness.GatewayConfig, healthy ...string) *gateway {
	t.Helper()
	return startGatewayFor(t, 1, cfg, healthy...)
}

func startGatewayFor(t *testing.T, replicas int, cfg harness.GatewayConfig, healthy ...string) *gateway {
	t.Helper()
	ctx := context.Background()
	g := &gateway{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log("\n" + harness.Dump(g.procs, 80))
		}
		for i := len(g.procs) - 1; i >= 0; i-- {
			g.procs[i].Stop()
		}
	})
	var err error
	g.redis, err = env.StartRedis(ctx, t.Name()+"-redis")
	if err != nil {
		t.Fatal(err)
	}
	g.procs = append(g.procs, g.redis.Proc)
	cfg.RedisAddr = g.redis.Addr
	for i := range replicas {
		c := cfg
		c.ListenerAddr = ""
		cp, err := env.StartSwitchyard(ctx, fmt.Sprintf("%s-cp%d", t.Name(), i+1), c)
		if err != nil {
			t.Fatal(err)
		}
		g.procs = append(g.procs, cp.Proc)
		g.cps = append(g.cps, cp)
		en, err := env.StartEnvoy(ctx, fmt.Sprintf("%s-envoy%d", t.Name(), i+1), cp.XDSAddr, cp.ListenerAddr)
		if err != nil {
			t.Fatal(err)
		}
		g.procs = append(g.procs, en.Proc)
		g.envoys = append(g.envoys, en)
		if err := en.WaitHealthy(ctx, healthy...); err != nil {
			t.Fatal(err)
		}
	}
	return g
}

// deadURL is a coordinator URL where nothing listens.
func deadURL(t *testing.T) string {
	t.Helper()
	p, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("http://127.0.0.1:%d", p)
}

// taggedQuery is a deterministic query whose text carries a unique tag, so
// each cluster's /v1/query list shows where it ran.
type taggedQuery struct {
	Tag string `json:"tag"`
	SQL string `json:"sql"`
}

func tagged(prefix string, n int) []taggedQuery {
	run := time.Now().UnixNano()
	out := make([]taggedQuery, n)
	for i := range out {
		tag := fmt.Sprintf("%s_%d_%02d", prefix, run, i)
		out[i] = taggedQuery{Tag: tag, SQL: fmt.Sprintf(
			"SELECT '%s' AS tag, count(*) AS n, sum(quantity) AS q FROM tpch.tiny.lineitem WHERE orderkey %% 20 = %d", tag, i)}
	}
	return out
}

// runCLI runs statements with the real trino CLI and returns its stdout.
func runCLI(t *testing.T, server string, args ...string) (string, error) {
	t.Helper()
	return runCLIArgs(t, nil, append([]string{"--server", server, "--user", "e2e"}, args...)...)
}

func runJDBC(t *testing.T, server string, qs []taggedQuery) (rows map[string][]string, errs map[string]string) {
	t.Helper()
	return runJDBCURL(t, "jdbc:trino://"+strings.TrimPrefix(server, "http://"), "e2e", qs)
}

// runJDBCURL runs queries with the JDBC driver at a full URL as user.
func runJDBCURL(t *testing.T, url, user string, qs []taggedQuery) (rows map[string][]string, errs map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var in strings.Builder
	for _, q := range qs {
		fmt.Fprintf(&in, "%s\t%s\n", q.Tag, q.SQL)
	}
	cmd := exec.CommandContext(ctx, env.JavaHome+"/bin/java", "-cp", env.TrinoJDBCPath(), env.Root+"/e2e/clients/JdbcClient.java", url, user)
	cmd.Stdin = strings.NewReader(in.String())
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("JDBC client: %v\nstderr: %s", err, stderr.String())
	}
	rows, errs = map[string][]string{}, map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		tag, rest, _ := strings.Cut(line, "\t")
		if msg, ok := strings.CutPrefix(rest, "ERROR\t"); ok {
			errs[tag] = msg
			continue
		}
		rows[tag] = append(rows[tag], rest)
	}
	return rows, errs
}

type pyResult struct {
	Tag     string  `json:"tag"`
	QueryID string  `json:"query_id"`
	Rows    [][]any `json:"rows"`
	Error   string  `json:"error"`
}

// runPython runs queries with the Python trino client.
func runPython(t *testing.T, server string, headers map[string]string, qs []taggedQuery) []pyResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var res []pyResult
	runPythonJSON(ctx, t, "pyclient.py", map[string]any{"server": server, "user": "e2e", "headers": headers, "queries": qs}, &res)
	return res
}

// runPythonJSON runs a Python client of e2e/clients with spec as JSON on
// its standard input and decodes its standard output into out. The
// variables in dropEnv are left out of its environment.
func runPythonJSON(ctx context.Context, t *testing.T, script string, spec, out any, dropEnv ...string) {
	t.Helper()
	in, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, env.PythonPath(), env.Root+"/e2e/clients/"+script)
	cmd.Stdin = strings.NewReader(string(in))
	if len(dropEnv) > 0 {
		for _, kv := range os.Environ() {
			name, _, _ := strings.Cut(kv, "=")
			if !slices.Contains(dropEnv, name) {
				cmd.Env = append(cmd.Env, kv)
			}
		}
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("python client %s: %v\nstderr: %s", script, err, stderr.String())
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("python client %s output: %v: %s", script, err, b)
	}
}

package xdsscale

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard-gw/switchyard/e2e/harness"
)

// envoy is one small Envoy process of the run.
type envoy struct {
	*harness.Proc
	node  string
	admin string // host:port of its admin interface
}

// versionFilter selects the text readouts naming the version of the
// configuration an Envoy last applied, per resource type: clusters (CDS),
// listeners (LDS) and the route table (RDS, under the HTTP connection
// manager's stat prefix).
const versionFilter = `^(cluster_manager\.cds|listener_manager\.lds|http\.switchyard\.rds\.switchyard_routes)\.version_text$`

// versionKeys are the readouts versionFilter selects.
var versionKeys = []string{
	"cluster_manager.cds.version_text",
	"listener_manager.lds.version_text",
	"http.switchyard.rds.switchyard_routes.version_text",
}

// startEnvoy writes the bootstrap `switchyard bootstrap` produces and runs
// a small Envoy on it (one worker thread, its admin interface on a free
// loopback port). It returns once the process runs; readiness is awaited
// with the others' (waitVersion).
func startEnvoy(env *harness.Env, node, xdsAddr string, sotw, clusterStats bool) (*envoy, error) {
	admin, err := harness.FreeAddr()
	if err != nil {
		return nil, err
	}
	out, err := exec.Command(env.Bin, "bootstrap", "--node-id", node, "--xds", xdsAddr, "--admin", admin).Output()
	if err != nil {
		return nil, fmt.Errorf("switchyard bootstrap: %w", err)
	}
	if sotw {
		if out, err = sotwBootstrap(out); err != nil {
			return nil, err
		}
	}
	if !clusterStats {
		out = withoutClusterStats(out)
	}
	path := filepath.Join(env.Dir, node+"-bootstrap.yaml")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(env.EnvoyPath(), "-c", path, "--concurrency", "1", "-l", "warning",
		"--disable-hot-restart", "--service-node", node, "--service-cluster", "switchyard")
	p, err := env.Start(node, cmd)
	if err != nil {
		return nil, err
	}
	return &envoy{Proc: p, node: node, admin: admin}, nil
}

// sotwBootstrap switches a bootstrap's ADS stream from incremental xDS
// (the shipped bootstrap's) to state of the world.
func sotwBootstrap(b []byte) ([]byte, error) {
	const sotw, delta = "api_type: GRPC\n", "api_type: DELTA_GRPC\n"
	if strings.Count(string(b), delta) != 1 {
		return nil, fmt.Errorf("bootstrap: want one %q", strings.TrimSpace(delta))
	}
	return []byte(strings.Replace(string(b), delta, sotw, 1)), nil
}

// adminClient reads the Envoys' admin endpoints: short timeouts, kept-alive
// connections (one per Envoy).
var adminClient = &http.Client{
	Timeout:   2 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 2, DisableCompression: true},
}

// slowAdminClient reads what takes an Envoy of 1,000 clusters long (every
// gauge's name is matched).
var slowAdminClient = &http.Client{Timeout: 15 * time.Second}

// versions reads what configuration an Envoy runs: the version of each
// type in versionKeys ("" before it applied one).
func (e *envoy) versions(ctx context.Context) (map[string]string, error) {
	b, err := e.stats(ctx, adminClient, "TextReadouts", versionFilter)
	if err != nil {
		return nil, err
	}
	return parseTextReadouts(b)
}

// stats reads the Envoy's admin /stats of one type, filtered.
func (e *envoy) stats(ctx context.Context, c *http.Client, typ, filter string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+e.admin+"/stats?type="+typ+"&filter="+url.QueryEscape(filter), nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s /stats: HTTP %d", e.node, resp.StatusCode)
	}
	return string(b), nil
}

// parseTextReadouts reads the text readouts of Envoy's /stats text output
// (`name: "value"` lines; counters and gauges, unquoted, are skipped).
func parseTextReadouts(s string) (map[string]string, error) {
	out := map[string]string{}
	for line := range strings.Lines(s) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			return nil, fmt.Errorf("stats line %q", line)
		}
		if !strings.HasPrefix(v, `"`) {
			continue
		}
		uq, err := strconv.Unquote(v)
		if err != nil {
			return nil, fmt.Errorf("stats line %q: %w", line, err)
		}
		out[k] = uq
	}
	return out, nil
}

// configKey names the configuration an Envoy runs: the versions of every
// type of versionKeys, or "" while one is missing. Each type has its own
// version: a change gives new versions to the types it changed.
func configKey(v map[string]string) string {
	var parts []string
	for _, k := range versionKeys {
		if v[k] == "" {
			return ""
		}
		parts = append(parts, v[k])
	}
	return strings.Join(parts, "/")
}

// updateTimeFilter selects when each type was last applied
// (`*.update_time`, milliseconds since the epoch, set once Envoy has
// applied an update).
const updateTimeFilter = `^(cluster_manager\.cds|listener_manager\.lds|http\.switchyard\.rds\.switchyard_routes)\.update_time$`

// updateTimes reads when an Envoy last applied each type, by the type's
// key in versionKeys.
func (e *envoy) updateTimes(ctx context.Context) (map[string]time.Time, error) {
	b, err := e.stats(ctx, slowAdminClient, "Gauges", updateTimeFilter)
	if err != nil {
		return nil, err
	}
	return parseUpdateTimes(b)
}

// parseUpdateTimes reads `*.update_time: <ms>` lines, keyed like
// versionKeys.
func parseUpdateTimes(s string) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	for line := range strings.Lines(s) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ": ")
		if !ok {
			continue
		}
		base, ok := strings.CutSuffix(k, ".update_time")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("stats line %q: %w", line, err)
		}
		out[base+".version_text"] = time.UnixMilli(n)
	}
	return out, nil
}

// withoutClusterStats keeps Envoy from making the statistics of each Trino
// cluster (about a third of an Envoy's memory with 1,000 clusters).
func withoutClusterStats(b []byte) []byte {
	return append(b, []byte(`# xdsbench: no per-cluster statistics of the Trino clusters.
stats_config:
  stats_matcher:
    exclusion_list:
      patterns:
      - prefix: "cluster.trino_"
`)...)
}

package pollab

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard-gw/switchyard/e2e/harness"
)

// plainConfig is e2e/harness's plain Envoy configuration (plainenvoy.go,
// the bench's "envoy" target) as a bootstrap map: one listener with the
// router alone, one STATIC cluster.
func plainConfig(backendURL string) (map[string]any, error) {
	u, err := url.Parse(backendURL)
	if err != nil {
		return nil, err
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		return nil, err
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return nil, err
	}
	backend := plainCluster("backend")
	backend["load_assignment"] = oneEndpoint("backend", host, p)
	hcm := map[string]any{
		"@type":                   typeHCM,
		"stat_prefix":             "plain",
		"use_remote_address":      true,
		"stream_idle_timeout":     "60s",
		"request_headers_timeout": "60s",
		"route_config": map[string]any{"virtual_hosts": []any{map[string]any{
			"name": "trino", "domains": []any{"*"},
			"routes": []any{map[string]any{"match": map[string]any{"prefix": "/"}, "route": map[string]any{"cluster": "backend", "timeout": "60s"}}},
		}}},
		"http_filters": []any{map[string]any{"name": "envoy.filters.http.router", "typed_config": map[string]any{"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}},
	}
	return map[string]any{
		"static_resources": map[string]any{
			"listeners": []any{map[string]any{
				"name":                              "plain",
				"per_connection_buffer_limit_bytes": 1048576,
				"filter_chains": []any{map[string]any{"filters": []any{map[string]any{
					"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm,
				}}}},
			}},
			"clusters": []any{backend},
		},
	}, nil
}

// plainCluster is plain Envoy's cluster settings, without endpoints.
func plainCluster(name string) map[string]any {
	return map[string]any{
		"name": name, "type": "STATIC", "connect_timeout": "1s",
		"typed_extension_protocol_options": map[string]any{
			"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": map[string]any{
				"@type":                        "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
				"common_http_protocol_options": map[string]any{"idle_timeout": "60s"},
				"explicit_http_config":         map[string]any{"http_protocol_options": map[string]any{}},
			},
		},
	}
}

// startStaticEnvoy runs Envoy with cfg (its listener and admin on free
// ports) as the harness runs plain Envoy (no hot restart, log level
// warning, default concurrency: a worker per core), and waits until it is
// live, its listener accepts connections and every cluster in healthy has
// a healthy host. It returns the Envoy and its listener address.
func startStaticEnvoy(ctx context.Context, env *harness.Env, name string, cfg map[string]any, healthy []string) (*harness.Envoy, string, error) {
	listen, err := harness.FreePort()
	if err != nil {
		return nil, "", err
	}
	admin, err := harness.FreePort()
	if err != nil {
		return nil, "", err
	}
	if err := SetPorts(cfg, name, listen, admin); err != nil {
		return nil, "", err
	}
	b, err := json.MarshalIndent(cfg, "", " ")
	if err != nil {
		return nil, "", err
	}
	path := filepath.Join(env.Dir, name+".json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return nil, "", err
	}
	p, err := env.Start(name, exec.Command(env.EnvoyPath(), "-c", path, "--disable-hot-restart", "-l", "warning"))
	if err != nil {
		return nil, "", err
	}
	en := &harness.Envoy{Proc: p, AdminAddr: fmt.Sprintf("127.0.0.1:%d", admin)}
	listenAddr := fmt.Sprintf("127.0.0.1:%d", listen)
	err = harness.Poll(ctx, name+" to be live with its listener", 30*time.Second, 50*time.Millisecond, func() error {
		if p.Exited() {
			return harness.Permanent(fmt.Errorf("envoy exited:\n%s", p.Tail(30)))
		}
		body, err := en.Admin("/ready")
		if err != nil {
			return err
		}
		if strings.TrimSpace(body) != "LIVE" {
			return fmt.Errorf("/ready says %q", body)
		}
		c, err := net.DialTimeout("tcp", listenAddr, time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	})
	if err == nil && len(healthy) > 0 {
		err = en.WaitHealthy(ctx, healthy...)
	}
	if err != nil {
		p.Stop()
		return nil, "", fmt.Errorf("%w (config %s)", err, path)
	}
	return en, listenAddr, nil
}

// envoyTiming reads Envoy's own histograms of the upstream time of the
// cluster (of those given) that served the most requests, and of the
// connection manager's request time. Through an aggregate cluster the
// statistics are the member's that served the request.
func envoyTiming(en *harness.Envoy, clusters []string, hcm string) (EnvoyTiming, error) {
	var et EnvoyTiming
	down := "http." + hcm + ".downstream_rq_time"
	for _, cluster := range clusters {
		up := "cluster." + cluster + ".upstream_rq_time"
		body, err := en.Admin("/stats?format=json&filter=" + url.QueryEscape("^("+quoteDots(up)+"|"+quoteDots(down)+")$"))
		if err != nil {
			return et, err
		}
		q, err := parseHistograms(body)
		if err != nil {
			return et, err
		}
		counts, err := en.Stats("^(" + quoteDots("cluster."+cluster+".upstream_rq_total") + "|" + quoteDots("http."+hcm+".downstream_rq_total") + ")$")
		if err != nil {
			return et, err
		}
		n := counts["cluster."+cluster+".upstream_rq_total"]
		if et.Cluster != "" && n <= et.UpstreamCount {
			continue
		}
		et.Cluster, et.UpstreamCount = cluster, n
		et.DownstreamCount = counts["http."+hcm+".downstream_rq_total"]
		v := q[up]
		et.UpstreamP50, et.UpstreamP99 = v[0], v[1]
		v = q[down]
		et.DownstreamP50, et.DownstreamP99 = v[0], v[1]
	}
	return et, nil
}

func quoteDots(s string) string { return strings.ReplaceAll(s, ".", `\.`) }

// parseHistograms reads the cumulative p50 and p99 of every histogram of
// /stats?format=json.
func parseHistograms(body string) (map[string][2]float64, error) {
	var doc struct {
		Stats []struct {
			Histograms *struct {
				Quantiles []float64 `json:"supported_quantiles"`
				Computed  []struct {
					Name   string `json:"name"`
					Values []struct {
						Cumulative *float64 `json:"cumulative"`
					} `json:"values"`
				} `json:"computed_quantiles"`
			} `json:"histograms"`
		} `json:"stats"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		return nil, fmt.Errorf("/stats?format=json: %w", err)
	}
	out := map[string][2]float64{}
	for _, s := range doc.Stats {
		h := s.Histograms
		if h == nil {
			continue
		}
		i50, i99 := slices.Index(h.Quantiles, 50), slices.Index(h.Quantiles, 99)
		if i50 < 0 || i99 < 0 {
			return nil, fmt.Errorf("/stats: quantiles %v lack 50 or 99", h.Quantiles)
		}
		for _, c := range h.Computed {
			var v [2]float64
			for k, i := range []int{i50, i99} {
				if i < len(c.Values) && c.Values[i].Cumulative != nil {
					v[k] = *c.Values[i].Cumulative
				}
			}
			out[c.Name] = v
		}
	}
	return out, nil
}

// timingFormat is the timing pass's access log line: method, path, then
// Envoy's own durations in µs (%COMMON_DURATION%): request received to
// first byte upstream, last byte upstream to first byte of the answer,
// first byte of the answer to last byte downstream, and the whole.
const timingFormat = "%REQ(:METHOD)% %REQ(:PATH)% %COMMON_DURATION(DS_RX_BEG:US_TX_BEG:us)% %COMMON_DURATION(US_TX_END:US_RX_BEG:us)% %COMMON_DURATION(US_RX_BEG:DS_TX_END:us)% %COMMON_DURATION(DS_RX_BEG:DS_TX_END:us)%\n"

// addTimingLog adds a file access log of timingFormat to the connection
// manager.
func addTimingLog(cfg map[string]any, path string) error {
	h, err := hcmOf(cfg)
	if err != nil {
		return err
	}
	logs, _ := h["access_log"].([]any)
	h["access_log"] = append(logs, map[string]any{
		"name": "envoy.access_loggers.file",
		"typed_config": map[string]any{
			"@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
			"path":  path,
			"log_format": map[string]any{
				"text_format_source": map[string]any{"inline_string": timingFormat},
			},
		},
	})
	return nil
}

// readTiming summarises a timing log's polls (GETs of /v1/statement/...,
// prefixed or not) and its submissions (POSTs of /v1/statement).
func readTiming(target, path string) (Timing, error) {
	f, err := os.Open(path)
	if err != nil {
		return Timing{}, err
	}
	defer f.Close()
	var polls, submits [4][]float64
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 6 {
			continue
		}
		var cols *[4][]float64
		switch {
		case fs[0] == "GET" && strings.Contains(fs[1], "/v1/statement/"):
			cols = &polls
		case fs[0] == "POST" && fs[1] == "/v1/statement":
			cols = &submits
		default:
			continue
		}
		var v [4]float64
		ok := true
		for i := range v {
			if v[i], err = strconv.ParseFloat(fs[2+i], 64); err != nil {
				ok = false
			}
		}
		if !ok {
			continue
		}
		for i := range v {
			cols[i] = append(cols[i], v[i])
		}
	}
	if err := sc.Err(); err != nil {
		return Timing{}, err
	}
	t := Timing{Target: target, Polls: len(polls[0]), Submits: len(submits[0])}
	if t.Polls == 0 {
		return t, fmt.Errorf("%s: no poll in the timing log %s", target, path)
	}
	t.RequestPath, t.Upstream, t.ResponsePath, t.Total = median(polls[0]), median(polls[1]), median(polls[2]), median(polls[3])
	if t.Submits > 0 {
		t.Submit = Durations{median(submits[0]), median(submits[1]), median(submits[2]), median(submits[3])}
	}
	return t, nil
}

// timingPass runs plain Envoy and the timing variants ("as is" by
// default), each with the timing log, alternating TimingRepeats times at
// the fixed rate, then reads the logs (complete once each Envoy has
// exited).
func (r *Runner) timingPass(ctx context.Context, base map[string]any, simURL string) ([]Timing, error) {
	plainLog := filepath.Join(r.Env.Dir, "timing-envoy.log")
	_ = os.Remove(plainLog)
	pc, err := plainConfig(simURL)
	if err != nil {
		return nil, err
	}
	if err := addTimingLog(pc, plainLog); err != nil {
		return nil, err
	}
	pen, purl, err := startStaticEnvoy(ctx, r.Env, "pollab-envoy-plain-timing", pc, nil)
	if err != nil {
		return nil, err
	}
	defer pen.Stop()
	targets := []*target{{name: NamePlain, url: "http://" + purl, stop: pen.Stop}}
	logs := []string{plainLog}
	names := r.Plan.TimingVariants
	if len(names) == 0 {
		names = []string{NameAsIs}
	}
	for _, name := range names {
		v, ok := variantByName(name)
		if !ok {
			return nil, fmt.Errorf("unknown timing variant %q", name)
		}
		log := filepath.Join(r.Env.Dir, "timing-"+name+".log")
		_ = os.Remove(log)
		t, err := r.startVariant(ctx, base, v, log)
		if err != nil {
			return nil, err
		}
		defer t.stop()
		targets = append(targets, t)
		logs = append(logs, log)
	}
	for i := range r.Plan.TimingRepeats {
		for _, t := range rotate(targets, i) {
			r.logf("timing pass %d/%d: %s", i+1, r.Plan.TimingRepeats, t.name)
			if _, err := r.load(ctx, t, r.Plan.Window, r.Plan.Warmup); err != nil {
				return nil, err
			}
		}
	}
	// Each log is complete once its Envoy has exited.
	for _, t := range targets {
		t.stop()
	}
	var out []Timing
	for i, t := range targets {
		tm, err := readTiming(t.name, logs[i])
		if err != nil {
			return nil, err
		}
		out = append(out, tm)
	}
	return out, nil
}

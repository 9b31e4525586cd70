package bench

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/switchyard-gw/switchyard/e2e/harness"
	"github.com/switchyard-gw/switchyard/e2e/loadgen"
)

// Target names, in report order.
const (
	Direct     = "direct"
	PlainEnvoy = "envoy"
	// Switchyard runs the shipped policy with its workload classes: every
	// submission is governed (a running slot in Redis; freed by the
	// simulator's completion event).
	Switchyard = "switchyard"
	// SwitchyardUngoverned is the same with the workload classes taken
	// out of the policy: governance off, for the side-by-side figures.
	SwitchyardUngoverned = "switchyard-ungoverned"
	// PlainEnvoyTLS is plain Envoy serving HTTPS: the floor for the
	// gateway's HTTPS targets.
	PlainEnvoyTLS = "envoy-tls"
	// SwitchyardTLSPassword and SwitchyardTLSJWT are the ungoverned
	// gateway over HTTPS with every client verified: a password from a
	// Trino-format password file (bcrypt, cost 8), or an RS256 token
	// Envoy's jwt_authn verifies.
	SwitchyardTLSPassword = "switchyard-tls-password"
	SwitchyardTLSJWT      = "switchyard-tls-jwt"
	TrinoGateway          = "trino-gateway"
)

// AllTargets lists every target in report order.
var AllTargets = []string{Direct, PlainEnvoy, PlainEnvoyTLS, Switchyard, SwitchyardUngoverned, SwitchyardTLSPassword, SwitchyardTLSJWT, TrinoGateway}

// target is one way of reaching the backend, with the processes whose CPU
// and memory count as its cost.
type target struct {
	name string
	url  string
	// roots are the processes of the target; their descendants count too
	// (PostgreSQL forks a backend per connection).
	roots map[string]*harness.Proc
	// admin and redis are the switchyard admin and Redis addresses.
	admin, redis string
	procs        []*harness.Proc
	// headers (credentials) and tls (the CA of an https url) go with
	// every request of the load.
	headers http.Header
	tls     *tls.Config
}

// client points a load at the target: its URL, with its CA and
// credentials.
func (t *target) client(cfg loadgen.Config) loadgen.Config {
	cfg.URL, cfg.TLS = t.url, t.tls
	if len(t.headers) > 0 {
		h := cfg.Headers.Clone()
		if h == nil {
			h = http.Header{}
		}
		for k, vs := range t.headers {
			h[k] = vs
		}
		cfg.Headers = h
	}
	return cfg
}

func (t *target) stop() {
	for i := len(t.procs) - 1; i >= 0; i-- {
		t.procs[i].Stop()
	}
}

// pids names every process of the target, descendants included, as
// "root" or "root/child-pid".
func (t *target) pids() map[string]int {
	out := map[string]int{}
	for name, p := range t.roots {
		out[name] = p.Pid()
		for _, c := range descendants(p.Pid()) {
			out[name+"/"+strconv.Itoa(c)] = c
		}
	}
	return out
}

// startTarget starts the processes of one target in front of backendURL;
// tag keeps the process names (and their files) of different phases apart.
// clusters > 1 registers the same backend as that many Switchyard clusters
// (the scale run).
func startTarget(ctx context.Context, env *harness.Env, tag, name, backendURL string, clusters int) (*target, error) {
	pname := func(p string) string { return "bench-" + tag + "-" + p }
	t := &target{name: name, roots: map[string]*harness.Proc{}}
	fail := func(err error) (*target, error) {
		t.stop()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	switch name {
	case Direct:
		t.url = backendURL
	case PlainEnvoy:
		en, url, err := env.StartPlainEnvoy(ctx, pname("envoy"), backendURL)
		if err != nil {
			return fail(err)
		}
		t.procs = append(t.procs, en.Proc)
		t.roots["envoy"] = en.Proc
		t.url = url
	case PlainEnvoyTLS:
		pki, err := newBenchPKI(env, pname(name+"-pki"))
		if err != nil {
			return fail(err)
		}
		en, url, err := env.StartPlainEnvoyTLS(ctx, pname("envoy-tls"), backendURL, pki.server.CertFile, pki.server.KeyFile)
		if err != nil {
			return fail(err)
		}
		t.procs = append(t.procs, en.Proc)
		t.roots["envoy"] = en.Proc
		t.url, t.tls = url, pki.clientTLS()
	case Switchyard, SwitchyardUngoverned, SwitchyardTLSPassword, SwitchyardTLSJWT:
		redis, err := env.StartRedis(ctx, pname("redis"))
		if err != nil {
			return fail(err)
		}
		t.procs = append(t.procs, redis.Proc)
		// The shipped policy decides every submission.
		policyDir, err := benchPolicies(env, pname(name+"-policies"), name == Switchyard)
		if err != nil {
			return fail(err)
		}
		cfg := harness.GatewayConfig{
			RedisAddr: redis.Addr, DefaultGroup: "adhoc", Groups: []string{"adhoc"},
			LogLevel: "info", Pprof: true,
			Extra: map[string]any{"policy": map[string]any{"dir": policyDir}},
		}
		var tlsURL string
		if name == SwitchyardTLSPassword || name == SwitchyardTLSJWT {
			if tlsURL, err = benchAuthentication(env, pname(name+"-pki"), name, &cfg, t); err != nil {
				return fail(err)
			}
		}
		for i := range max(clusters, 1) {
			cfg.Clusters = append(cfg.Clusters, harness.ClusterSpec{
				Name: fmt.Sprintf("c%d", i), Group: "adhoc",
				Coordinators: []harness.CoordinatorSpec{{URL: backendURL}},
			})
		}
		cp, err := env.StartSwitchyard(ctx, pname("switchyard"), cfg)
		if err != nil {
			return fail(err)
		}
		t.procs = append(t.procs, cp.Proc)
		if name != Switchyard {
			env.DetachEvents(cp) // nothing to release, nothing to record
		}
		en, err := env.StartEnvoy(ctx, pname("switchyard-envoy"), cp.XDSAddr, cp.ListenerAddr)
		if err != nil {
			return fail(err)
		}
		t.procs = append(t.procs, en.Proc)
		if err := en.WaitHealthy(ctx, "trino_c0"); err != nil {
			return fail(err)
		}
		t.roots["envoy"], t.roots["switchyard"], t.roots["redis"] = en.Proc, cp.Proc, redis.Proc
		t.url, t.admin, t.redis = "http://"+cp.ListenerAddr, cp.AdminAddr, redis.Addr
		if tlsURL != "" {
			t.url = tlsURL
			if err := waitHTTPS(ctx, t); err != nil {
				return fail(err)
			}
		}
	case TrinoGateway:
		pg, err := env.StartPostgres(ctx, pname("postgres"))
		if err != nil {
			return fail(err)
		}
		t.procs = append(t.procs, pg.Proc)
		tg, err := env.StartTrinoGateway(ctx, pname("trino-gateway"), pg, []harness.TGBackend{{Name: "backend", URL: backendURL, RoutingGroup: "adhoc"}})
		if err != nil {
			return fail(err)
		}
		t.procs = append(t.procs, tg.Proc)
		t.roots["java"], t.roots["postgres"] = tg.Proc, pg.Proc
		t.url = tg.URL
	default:
		return nil, fmt.Errorf("unknown target %q", name)
	}
	return t, nil
}

// benchPolicies writes the shipped policies into a directory of the Env.
// Governed, the load's user is one of the service users: its thousands
// of queries a minute run in the default class (at most 200 running, 50
// per user, no rate), so every submission takes a running slot and none
// is refused or queued by the analyst class's per-user rate, sized for a
// person. Not governed, data.json loses switchyard.governance and
// governance.rego goes with its tests: no class is named, and the
// governance stage does nothing.
func benchPolicies(env *harness.Env, name string, governed bool) (string, error) {
	dst := filepath.Join(env.Dir, name)
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return "", err
	}
	src := filepath.Join(env.Root, "policies")
	entries, err := os.ReadDir(src)
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		if !governed && strings.HasPrefix(e.Name(), "governance") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return "", err
		}
		if e.Name() == "data.json" {
			var doc map[string]map[string]any
			if err := json.Unmarshal(b, &doc); err != nil {
				return "", fmt.Errorf("policies/data.json: %w", err)
			}
			sy := doc["switchyard"]
			settings, _ := sy["settings"].(map[string]any)
			if _, ok := sy["governance"]; !ok || settings == nil {
				return "", fmt.Errorf("policies/data.json has no switchyard.governance or switchyard.settings")
			}
			if governed {
				users, _ := settings["service_users"].([]any)
				settings["service_users"] = append(users, loadgen.DefaultUser)
			} else {
				delete(sy, "governance")
			}
			if b, err = json.Marshal(doc); err != nil {
				return "", err
			}
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			return "", err
		}
	}
	return dst, nil
}

// descendants lists the PIDs whose parent chain leads to pid.
func descendants(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	parent := map[int]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// The command may contain spaces; fields resume after the last ')'.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 {
			continue
		}
		pp, _ := strconv.Atoi(f[1])
		parent[p] = pp
	}
	var out []int
	for p := range parent {
		for q := parent[p]; q > 1; q = parent[q] {
			if q == pid {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

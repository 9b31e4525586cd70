package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// DefaultTrinoGatewayVersion is the Trino Gateway release the harness runs
// when deploy/versions.env has no TRINO_GATEWAY_VERSION.
const DefaultTrinoGatewayVersion = "21"

// TGBackend is a Trino cluster behind Trino Gateway.
type TGBackend struct {
	Name         string
	URL          string // what Trino Gateway proxies to (proxyTo and externalUrl)
	RoutingGroup string // default "adhoc", Trino Gateway's default routing group
}

// TrinoGatewayOptions tune a Trino Gateway process; the zero value is the
// configuration docs/trino-gateway-setup.md describes.
type TrinoGatewayOptions struct {
	Port         int               // default: a free port
	JVMFlags     []string          // default: the flags of the Trino Gateway installation docs
	ServerConfig map[string]string // extra or replaced serverConfig (Airlift) properties
	TaskDelay    time.Duration     // health check period (monitor.taskDelay), default 10s
}

// TrinoGateway is a running Trino Gateway (trinodb/trino-gateway) with its
// state in PostgreSQL. Version 21 serves the client protocol, the REST API
// and the UI on one HTTP port, so URL and AdminURL are the same.
type TrinoGateway struct {
	*Proc
	Name       string
	Port       int
	URL        string // clients send /v1/statement here
	AdminURL   string // /entity, /gateway/backend/..., /api/public/..., /trino-gateway/readyz
	ConfigPath string
	Backends   []TGBackend
	// Started is how long the process took to answer /trino-gateway/readyz
	// (JVM start, Flyway migration, first health round); Ready is how long
	// until every backend was registered and seen HEALTHY.
	Started, Ready time.Duration
}

// TrinoGatewayVersion is TRINO_GATEWAY_VERSION from deploy/versions.env, or
// DefaultTrinoGatewayVersion.
func (e *Env) TrinoGatewayVersion() string {
	if v := e.Versions["TRINO_GATEWAY_VERSION"]; v != "" {
		return v
	}
	if e.Versions == nil && e.Root != "" {
		if m, err := readEnvFile(filepath.Join(e.Root, "deploy", "versions.env")); err == nil && m["TRINO_GATEWAY_VERSION"] != "" {
			return m["TRINO_GATEWAY_VERSION"]
		}
	}
	return DefaultTrinoGatewayVersion
}

// TrinoGatewayJar is the executable jar deploy/setup-trino-gateway.sh installs.
func (e *Env) TrinoGatewayJar() string {
	return filepath.Join(e.Cache, "gateway-ha-"+e.TrinoGatewayVersion()+".jar")
}

// StartTrinoGateway starts Trino Gateway with the default options.
func (e *Env) StartTrinoGateway(ctx context.Context, name string, pg *Postgres, backends []TGBackend) (*TrinoGateway, error) {
	return e.StartTrinoGatewayWith(ctx, name, pg, backends, TrinoGatewayOptions{})
}

// StartTrinoGatewayWith writes the configuration into Dir/name, starts Trino
// Gateway on it, waits until it is ready, registers the backends through
// its REST API (version 21 has no backend list in the configuration file)
// and waits until its health check has seen every backend HEALTHY, so that
// the first query is routed.
func (e *Env) StartTrinoGatewayWith(ctx context.Context, name string, pg *Postgres, backends []TGBackend, o TrinoGatewayOptions) (*TrinoGateway, error) {
	jar := e.TrinoGatewayJar()
	if _, err := os.Stat(jar); err != nil {
		return nil, fmt.Errorf("trino gateway is not installed (%v): run deploy/setup-trino-gateway.sh", err)
	}
	java := filepath.Join(e.JavaHome, "bin", "java")
	if e.JavaHome == "" {
		return nil, fmt.Errorf("no Java home for Trino Gateway (Env.JavaHome; .cache/java_home): run make setup")
	}
	if _, err := os.Stat(java); err != nil {
		return nil, fmt.Errorf("no java for Trino Gateway: %v: run make setup", err)
	}
	if pg == nil {
		return nil, fmt.Errorf("trino gateway needs PostgreSQL: call StartPostgres first")
	}
	if o.Port == 0 {
		p, err := FreePort()
		if err != nil {
			return nil, err
		}
		o.Port = p
	}
	if o.TaskDelay == 0 {
		o.TaskDelay = 10 * time.Second
	}
	if o.JVMFlags == nil {
		o.JVMFlags = []string{"-XX:MinRAMPercentage=50", "-XX:MaxRAMPercentage=80"}
	}
	dir := filepath.Join(e.Dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	tg := &TrinoGateway{
		Name: name, Port: o.Port,
		URL:        fmt.Sprintf("http://127.0.0.1:%d", o.Port),
		ConfigPath: filepath.Join(dir, "config.yaml"),
	}
	tg.AdminURL = tg.URL
	if err := os.WriteFile(tg.ConfigPath, []byte(trinoGatewayConfig(pg, o)), 0o600); err != nil {
		return nil, err
	}

	args := append(append([]string{}, o.JVMFlags...), "-jar", jar, tg.ConfigPath)
	cmd := exec.Command(java, args...)
	// The Airlift HTTP request log (var/log/http-request.log) goes here.
	cmd.Dir = dir
	// The database password reaches the configuration as ${ENV:...}, as the
	// installation docs recommend for secrets.
	cmd.Env = append(os.Environ(), "JAVA_HOME="+e.JavaHome, "TRINO_GATEWAY_DB_PASSWORD="+pg.Password)
	begin := time.Now()
	p, err := e.Start(name, cmd)
	if err != nil {
		return nil, err
	}
	tg.Proc = p
	fail := func(err error) (*TrinoGateway, error) {
		p.Stop()
		return nil, err
	}
	if err := tg.waitReady(ctx, 180*time.Second); err != nil {
		return fail(err)
	}
	tg.Started = time.Since(begin)
	for _, b := range backends {
		if err := tg.AddBackend(ctx, b); err != nil {
			return fail(err)
		}
	}
	// A backend added at run time is PENDING until the next health round.
	if err := tg.WaitHealthy(ctx, 3*o.TaskDelay+30*time.Second); err != nil {
		return fail(err)
	}
	tg.Ready = time.Since(begin)
	return tg, nil
}

// trinoGatewayConfig renders the configuration; docs/trino-gateway-setup.md
// gives the reason and source of each setting.
func trinoGatewayConfig(pg *Postgres, o TrinoGatewayOptions) string {
	server := map[string]string{
		"node.environment":      "switchyard",
		"node.bind-ip":          "127.0.0.1",
		"http-server.http.port": fmt.Sprint(o.Port),
	}
	for k, v := range o.ServerConfig {
		server[k] = v
	}
	keys := make([]string, 0, len(server))
	for k := range server {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("# Trino Gateway configuration written by e2e/harness/trinogateway.go;\n")
	b.WriteString("# docs/trino-gateway-setup.md explains every setting.\n")
	b.WriteString("serverConfig:\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "  %s: %s\n", k, yamlQuote(server[k]))
	}
	fmt.Fprintf(&b, `dataStore:
  jdbcUrl: %s
  user: %s
  password: ${ENV:TRINO_GATEWAY_DB_PASSWORD}
  driver: org.postgresql.Driver
  queryHistoryEnabled: true
  queryHistoryHoursRetention: 24
  runMigrationsEnabled: true
databaseCache:
  enabled: true
  expireAfterWrite: 1h
  refreshAfterWrite: 5s
clusterStatsConfiguration:
  monitorType: INFO_API
monitor:
  taskDelay: %s
  retries: 1
routing:
  defaultRoutingGroup: adhoc
  forwardedHeadersEnabled: true
  asyncTimeout: 2m
routingRules:
  rulesEngineEnabled: false
proxyResponseConfiguration:
  responseSize: 32MB
includeClusterHostInResponse: false
`, yamlQuote(pg.JDBCURL), yamlQuote(pg.User), durationString(o.TaskDelay))
	return b.String()
}

func yamlQuote(s string) string {
	b, _ := json.Marshal(s) // a JSON string is a YAML double-quoted scalar
	return string(b)
}

// durationString formats d as an Airlift duration ("10s", "500ms").
func durationString(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return fmt.Sprintf("%dms", d/time.Millisecond)
}

// waitReady waits until /trino-gateway/readyz answers 200: the database is
// migrated and the first health round has run.
func (tg *TrinoGateway) waitReady(ctx context.Context, timeout time.Duration) error {
	return Poll(ctx, tg.Name+" to be ready", timeout, 200*time.Millisecond, func() error {
		if tg.Exited() {
			return fmt.Errorf("trino gateway exited:\n%s", tg.Tail(40))
		}
		code, body, err := tg.get(ctx, "/trino-gateway/readyz")
		if err != nil {
			return err
		}
		if code != http.StatusOK {
			return fmt.Errorf("readyz: HTTP %d: %s", code, body)
		}
		return nil
	})
}

// AddBackend registers (or updates) a backend, active, through the REST
// API (POST /entity?entityType=GATEWAY_BACKEND, an upsert).
func (tg *TrinoGateway) AddBackend(ctx context.Context, b TGBackend) error {
	if b.RoutingGroup == "" {
		b.RoutingGroup = "adhoc"
	}
	body, err := json.Marshal(map[string]any{
		"name": b.Name, "proxyTo": b.URL, "externalUrl": b.URL, "active": true, "routingGroup": b.RoutingGroup,
	})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tg.AdminURL+"/entity?entityType=GATEWAY_BACKEND", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := httpClient.Do(req)
	if err != nil {
		return fmt.Errorf("adding backend %s: %w", b.Name, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("adding backend %s: HTTP %d: %s", b.Name, resp.StatusCode, msg)
	}
	for i, have := range tg.Backends {
		if have.Name == b.Name {
			tg.Backends[i] = b
			return nil
		}
	}
	tg.Backends = append(tg.Backends, b)
	return nil
}

// BackendStatus is the health Trino Gateway's monitor last saw for a
// backend: HEALTHY, UNHEALTHY, PENDING or UNKNOWN.
func (tg *TrinoGateway) BackendStatus(ctx context.Context, name string) (string, error) {
	code, body, err := tg.get(ctx, "/api/public/backends/"+url.PathEscape(name)+"/state")
	if err != nil {
		return "", err
	}
	if code != http.StatusOK {
		return "", fmt.Errorf("state of %s: HTTP %d: %s", name, code, body)
	}
	var st struct {
		TrinoStatus string `json:"trinoStatus"`
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return "", fmt.Errorf("state of %s: %w (%.200s)", name, err, body)
	}
	return st.TrinoStatus, nil
}

// WaitHealthy waits until every registered backend is HEALTHY.
func (tg *TrinoGateway) WaitHealthy(ctx context.Context, timeout time.Duration) error {
	return Poll(ctx, tg.Name+" to see its backends healthy", timeout, 250*time.Millisecond, func() error {
		if tg.Exited() {
			return fmt.Errorf("trino gateway exited:\n%s", tg.Tail(40))
		}
		for _, b := range tg.Backends {
			st, err := tg.BackendStatus(ctx, b.Name)
			if err != nil {
				return err
			}
			if st != "HEALTHY" {
				return fmt.Errorf("backend %s is %s", b.Name, st)
			}
		}
		return nil
	})
}

func (tg *TrinoGateway) get(ctx context.Context, path string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, tg.AdminURL+path, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

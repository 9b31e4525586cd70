package harness

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"text/template"
	"time"
)

// plainEnvoyTmpl is Envoy with a static configuration and no filters but
// the router: what Envoy alone costs in front of a Trino backend. Buffer,
// timeout and connection settings match what Switchyard pushes over xDS,
// so the comparison isolates ext_proc, the route table and the prefix.
var plainEnvoyTmpl = template.Must(template.New("plain").Parse(`admin:
  address: {socket_address: {address: 127.0.0.1, port_value: {{.AdminPort}}}}
static_resources:
  listeners:
  - name: plain
    address: {socket_address: {address: 127.0.0.1, port_value: {{.ListenPort}}}}
    per_connection_buffer_limit_bytes: 1048576
    filter_chains:
    - {{if .CertFile}}transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
          common_tls_context:
            tls_params: {tls_minimum_protocol_version: TLSv1_2}
            alpn_protocols: [h2, http/1.1]
            tls_certificates:
            - certificate_chain: {filename: {{.CertFile}}}
              private_key: {filename: {{.KeyFile}}}
      {{end}}filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: plain
          use_remote_address: true
          stream_idle_timeout: 60s
          request_headers_timeout: 60s
          route_config:
            virtual_hosts:
            - name: trino
              domains: ["*"]
              routes:
              - match: {prefix: "/"}
                route: {cluster: backend, timeout: 60s}
          http_filters:
          - name: envoy.filters.http.router
            typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}
  clusters:
  - name: backend
    type: STATIC
    connect_timeout: 1s
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        common_http_protocol_options: {idle_timeout: 60s}
        explicit_http_config: {http_protocol_options: {}}
    load_assignment:
      cluster_name: backend
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: {{.BackendHost}}, port_value: {{.BackendPort}}}}}
`))

// StartPlainEnvoy runs Envoy with a static configuration that forwards
// everything to backendURL, listening on a free port.
func (e *Env) StartPlainEnvoy(ctx context.Context, name, backendURL string) (*Envoy, string, error) {
	return e.startPlainEnvoy(ctx, name, backendURL, "", "")
}

// StartPlainEnvoyTLS is StartPlainEnvoy serving HTTPS with the PEM files
// (the cost of TLS in plain Envoy, to compare a gateway's HTTPS with).
func (e *Env) StartPlainEnvoyTLS(ctx context.Context, name, backendURL, certFile, keyFile string) (*Envoy, string, error) {
	return e.startPlainEnvoy(ctx, name, backendURL, certFile, keyFile)
}

func (e *Env) startPlainEnvoy(ctx context.Context, name, backendURL, certFile, keyFile string) (*Envoy, string, error) {
	u, err := url.Parse(backendURL)
	if err != nil {
		return nil, "", err
	}
	bh, bp, err := net.SplitHostPort(u.Host)
	if err != nil {
		return nil, "", err
	}
	listen, err := FreePort()
	if err != nil {
		return nil, "", err
	}
	admin, err := FreePort()
	if err != nil {
		return nil, "", err
	}
	path := filepath.Join(e.Dir, name+".yaml")
	f, err := os.Create(path)
	if err != nil {
		return nil, "", err
	}
	err = plainEnvoyTmpl.Execute(f, map[string]any{"AdminPort": admin, "ListenPort": listen, "BackendHost": bh, "BackendPort": bp, "CertFile": certFile, "KeyFile": keyFile})
	f.Close()
	if err != nil {
		return nil, "", err
	}
	p, err := e.Start(name, exec.Command(e.EnvoyPath(), "-c", path, "--disable-hot-restart", "-l", "warning"))
	if err != nil {
		return nil, "", err
	}
	en := &Envoy{Proc: p, AdminAddr: fmt.Sprintf("127.0.0.1:%d", admin)}
	listenAddr := fmt.Sprintf("127.0.0.1:%d", listen)
	err = Poll(ctx, name+" listener", 30*time.Second, 20*time.Millisecond, func() error {
		if p.Exited() {
			return fmt.Errorf("envoy exited:\n%s", p.Tail(30))
		}
		c, err := net.DialTimeout("tcp", listenAddr, time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	})
	if err != nil {
		p.Stop()
		return nil, "", err
	}
	scheme := "http://"
	if certFile != "" {
		scheme = "https://"
	}
	return en, scheme + listenAddr, nil
}

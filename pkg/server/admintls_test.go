package server

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/e2e/harness"
	"github.com/switchyard-gw/switchyard/pkg/config"
)

// With controlPlane.adminTLS the admin API answers over HTTPS only, with
// the configured certificate; with a client CA, only to clients holding a
// certificate from it.
func TestAdminTLS(t *testing.T) {
	dir := t.TempDir()
	ca, err := harness.NewCA(dir, "admin")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.Server("admin-server")
	if err != nil {
		t.Fatal(err)
	}
	client, err := ca.Client("admin-client", "ops")
	if err != nil {
		t.Fatal(err)
	}
	co := newFakeCoordinator(t)
	close(co.release)
	for _, mutual := range []bool{false, true} {
		t.Run(fmt.Sprintf("mutual=%v", mutual), func(t *testing.T) {
			tlsYAML := fmt.Sprintf("{certFile: %q, keyFile: %q}", srv.CertFile, srv.KeyFile)
			if mutual {
				tlsYAML = fmt.Sprintf("{certFile: %q, keyFile: %q, clientCAFile: %q}", srv.CertFile, srv.KeyFile, ca.CertFile)
			}
			cfg, err := config.Parse([]byte(fmt.Sprintf(`
listener: {address: 127.0.0.1:18080}
controlPlane: {adminAddress: 127.0.0.1:0, xdsAddress: 127.0.0.1:0, extProcAddress: 127.0.0.1:0, resubmitAddress: 127.0.0.1:0, queueAddress: 127.0.0.1:0, adminTLS: %s}
admin: {tokens: [{name: t, tokenHash: %q, role: admin}]}
routing: {defaultGroup: adhoc}
groups: [{name: adhoc}]
clusters: [{name: c, group: adhoc, coordinators: [{url: %q}]}]
`, tlsYAML, config.HashToken(testToken), co.URL)))
			if err != nil {
				t.Fatal(err)
			}
			r := start(t, cfg)
			pool := x509.NewCertPool()
			pool.AddCert(ca.Cert)
			tc := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
			if mutual {
				c, err := tls.LoadX509KeyPair(client.CertFile, client.KeyFile)
				if err != nil {
					t.Fatal(err)
				}
				tc.Certificates = []tls.Certificate{c}
			}
			hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
			poll(t, "the admin API over HTTPS", func() error {
				resp, err := hc.Get("https://" + r.AdminAddr + "/api/v1/clusters")
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != 401 || !strings.Contains(string(b), "bearer token") {
					return fmt.Errorf("%d %s", resp.StatusCode, b)
				}
				return nil
			})
			if code, body, err := get("http://" + r.AdminAddr + "/healthz"); err == nil && code == 200 {
				t.Errorf("plain HTTP answered %d %s", code, body)
			}
			if mutual {
				anon := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
				if resp, err := anon.Get("https://" + r.AdminAddr + "/healthz"); err == nil {
					resp.Body.Close()
					t.Errorf("a client without a certificate got %d", resp.StatusCode)
				}
			}
		})
	}
}

func TestAdminTLSConfigErrors(t *testing.T) {
	_, err := config.Parse([]byte(`
controlPlane: {adminTLS: {keyFile: /nonexistent/key.pem}}
routing: {defaultGroup: a}
groups: [{name: a}]
`))
	if err == nil || !strings.Contains(err.Error(), "controlPlane.adminTLS.certFile: is required") || !strings.Contains(err.Error(), `controlPlane.adminTLS.keyFile: "/nonexistent/key.pem" is not readable`) {
		t.Errorf("error %v", err)
	}
}

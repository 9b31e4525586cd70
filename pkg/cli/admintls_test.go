package cli

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/switchyard-gw/switchyard/e2e/harness"
)

// An https admin API with a private CA that asks for client certificates:
// the CLI reaches it with --cacert, --cert and --key (or their
// environment variables), and says what is wrong without them.
func TestAdminOverTLS(t *testing.T) {
	dir := t.TempDir()
	ca, err := harness.NewCA(dir, "admin")
	if err != nil {
		t.Fatal(err)
	}
	srvPair, err := ca.Server("server")
	if err != nil {
		t.Fatal(err)
	}
	client, err := ca.Client("client", "ops")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(srvPair.CertFile, srvPair.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"entries":[]}`)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	defer srv.Close()
	t.Setenv(envAdmin, srv.URL)
	t.Setenv(envToken, "t")

	if _, _, err := runCLI("audit"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("without --cacert: %v, want a certificate error", err)
	}
	if _, _, err := runCLI("audit", "--cacert", ca.CertFile); err == nil {
		t.Error("without a client certificate the server must refuse")
	}
	out, errOut, err := runCLI("audit", "--cacert", ca.CertFile, "--cert", client.CertFile, "--key", client.KeyFile)
	if err != nil || !strings.Contains(out, "No changes recorded") {
		t.Errorf("with the CA and a client certificate: %q %q %v", out, errOut, err)
	}
	t.Setenv(envCACert, ca.CertFile)
	t.Setenv(envCert, client.CertFile)
	t.Setenv(envKey, client.KeyFile)
	if out, _, err := runCLI("audit"); err != nil || !strings.Contains(out, "No changes recorded") {
		t.Errorf("from the environment: %q %v", out, err)
	}
	if _, _, err := runCLI("audit", "--key", ""); err == nil || !strings.Contains(err.Error(), "--cert and --key go together") {
		t.Errorf("--cert without --key: %v", err)
	}
	if _, _, err := runCLI("audit", "--cacert", client.KeyFile); err == nil || !strings.Contains(err.Error(), "holds no PEM certificate") {
		t.Errorf("a key as CA: %v", err)
	}
}

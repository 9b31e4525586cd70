package bench

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/switchyard-gw/switchyard/e2e/harness"
	"github.com/switchyard-gw/switchyard/e2e/loadgen"
)

// The bench's client credentials (loadgen.DefaultUser is the user).
const (
	benchPassword = "bench-password-not-a-secret"
	benchIssuer   = "https://issuer.bench.switchyard.test"
	benchAudience = "switchyard-bench"
)

// benchPKI is a CA and a server certificate for 127.0.0.1, made for one
// target.
type benchPKI struct {
	ca     *harness.CA
	server *harness.Pair
	dir    string
}

func newBenchPKI(env *harness.Env, name string) (*benchPKI, error) {
	dir := filepath.Join(env.Dir, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ca, err := harness.NewCA(dir, "bench")
	if err != nil {
		return nil, err
	}
	server, err := ca.Server("server")
	if err != nil {
		return nil, err
	}
	return &benchPKI{ca: ca, server: server, dir: dir}, nil
}

func (p *benchPKI) clientTLS() *tls.Config {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(p.ca.CertPEM)
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

// benchAuthentication turns cfg into an HTTPS gateway that verifies every
// client (passwords or JWT, per name), gives t the credentials and CA,
// and returns the HTTPS URL.
func benchAuthentication(env *harness.Env, name, target string, cfg *harness.GatewayConfig, t *target) (string, error) {
	pki, err := newBenchPKI(env, name)
	if err != nil {
		return "", err
	}
	addr, err := harness.FreeAddr()
	if err != nil {
		return "", err
	}
	auth := map[string]any{}
	t.headers = http.Header{}
	switch target {
	case SwitchyardTLSPassword:
		file := filepath.Join(pki.dir, "password.db")
		if err := harness.WritePasswordFile(file, map[string]string{loadgen.DefaultUser: benchPassword}); err != nil {
			return "", err
		}
		auth["password"] = map[string]any{"file": file}
		t.headers.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(loadgen.DefaultUser+":"+benchPassword)))
	case SwitchyardTLSJWT:
		signer, err := harness.NewJWTSigner("bench")
		if err != nil {
			return "", err
		}
		jwks := filepath.Join(pki.dir, "jwks.json")
		if err := os.WriteFile(jwks, signer.JWKS(), 0o600); err != nil {
			return "", err
		}
		now := time.Now()
		tok, err := signer.Sign(map[string]any{"iss": benchIssuer, "aud": benchAudience, "sub": loadgen.DefaultUser,
			"iat": now.Unix(), "exp": now.Add(24 * time.Hour).Unix()})
		if err != nil {
			return "", err
		}
		auth["jwt"] = map[string]any{"issuer": benchIssuer, "audiences": []string{benchAudience}, "jwksFile": jwks}
		t.headers.Set("Authorization", "Bearer "+tok)
	default:
		return "", fmt.Errorf("no authentication for target %s", target)
	}
	cfg.ListenerExtra = map[string]any{
		"tls":            map[string]any{"address": addr, "certFile": pki.server.CertFile, "keyFile": pki.server.KeyFile},
		"authentication": auth,
	}
	t.tls = pki.clientTLS()
	return "https://" + addr, nil
}

// waitHTTPS waits until the target answers an authenticated request on
// its HTTPS address (the listener comes with the first snapshot, its
// certificate with the same one).
func waitHTTPS(ctx context.Context, t *target) error {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: t.tls}}
	defer client.CloseIdleConnections()
	return harness.Poll(ctx, t.name+" HTTPS listener", 30*time.Second, 50*time.Millisecond, func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.url+"/v1/info", nil)
		if err != nil {
			return err
		}
		req.Header = t.headers.Clone()
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /v1/info: %d", resp.StatusCode)
		}
		return nil
	})
}

package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/e2e/harness"
)

// authFixture is a gateway that verifies clients: HTTPS with a
// certificate from a CA made for the test, a Trino-format password file
// and JWTs signed by a key made for the test, with the shipped policy
// (impersonation rule: svc may run as anyone).
type authFixture struct {
	g         *gateway
	ca        *harness.CA
	httpsURL  string
	httpURL   string
	passwords string // the password file
	certFile  string
	keyFile   string
	key       *harness.JWTSigner
	dir       string
	tokens    []string // every token signed, for the log check
	keyLine   string   // a line of the TLS private key, for the log check
}

const (
	jwtIssuer   = "https://issuer.switchyard.test"
	jwtAudience = "switchyard-e2e"
)

func startAuthGateway(t *testing.T) *authFixture {
	t.Helper()
	f := &authFixture{dir: t.TempDir()}
	var err error
	if f.ca, err = harness.NewCA(f.dir, "auth"); err != nil {
		t.Fatal(err)
	}
	pair, err := f.ca.Server("gateway")
	if err != nil {
		t.Fatal(err)
	}
	f.certFile, f.keyFile = pair.CertFile, pair.KeyFile
	f.keyLine = strings.Split(string(pair.KeyPEM), "\n")[1]
	f.passwords = filepath.Join(f.dir, "password.db")
	writePasswords(t, f.passwords, map[string]string{"alice": "alice-pw-1", "bob": "bob-pw-2", "svc": "svc-pw-3", "admin": "admin-pw-4"})
	if f.key, err = harness.NewJWTSigner("e2e"); err != nil {
		t.Fatal(err)
	}
	jwks := filepath.Join(f.dir, "jwks.json")
	if err := os.WriteFile(jwks, f.key.JWKS(), 0o600); err != nil {
		t.Fatal(err)
	}
	tlsAddr, err := harness.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	cfg := policyFleet(t, copyPolicies(t, map[string]any{
		"impersonation": []map[string]any{{"original_user": "svc", "new_user": ".*"}},
	}))
	cfg = withAdmin(cfg)
	cfg.ListenerExtra = map[string]any{
		"refreshPeriod": "200ms",
		"tls":           map[string]any{"address": tlsAddr, "certFile": f.certFile, "keyFile": f.keyFile},
		"authentication": map[string]any{
			"password": map[string]any{"file": f.passwords},
			"jwt": map[string]any{"issuer": jwtIssuer, "audiences": []string{jwtAudience}, "jwksFile": jwks,
				"principalClaim": "preferred_username"},
		},
	}
	f.g = startGatewayWithClusters(t, cfg, "trino_a")
	f.httpsURL, f.httpURL = "https://"+tlsAddr, f.g.URL(0)
	if err := harness.Poll(context.Background(), "the HTTPS listener", 30*time.Second, 100*time.Millisecond, func() error {
		resp, err := f.client().Get(f.httpsURL + "/v1/info")
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return f
}

func writePasswords(t *testing.T, path string, users map[string]string) {
	t.Helper()
	if err := harness.WritePasswordFile(path, users); err != nil {
		t.Fatal(err)
	}
}

// token signs a JWT (RS256) with signer and remembers it.
func (f *authFixture) token(t *testing.T, signer *harness.JWTSigner, claims map[string]any) string {
	t.Helper()
	tok, err := signer.Sign(claims)
	if err != nil {
		t.Fatal(err)
	}
	f.tokens = append(f.tokens, tok)
	return tok
}

func (f *authFixture) claims(user string, ttl time.Duration) map[string]any {
	now := time.Now()
	return map[string]any{"iss": jwtIssuer, "aud": jwtAudience, "sub": "id-" + user, "preferred_username": user,
		"iat": now.Unix(), "exp": now.Add(ttl).Unix()}
}

// client trusts the test CA.
func (f *authFixture) client() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: f.pool()}}}
}

func (f *authFixture) pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(f.ca.CertPEM)
	return pool
}

type authResponse struct {
	status    int
	challenge []string
	body      string
}

// do sends one request; user/password are Basic credentials ("": none),
// bearer a token, header the X-Trino-User.
func (f *authFixture) do(t *testing.T, method, url, user, password, bearer, header string) authResponse {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if header != "" {
		req.Header.Set("X-Trino-User", header)
	}
	resp, err := f.client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return authResponse{resp.StatusCode, resp.Header.Values("Www-Authenticate"), string(b)}
}

type pyAuthResult struct {
	Rows  [][]any `json:"rows"`
	Error string  `json:"error"`
}

// pyAuth runs queries with the Python client over HTTPS.
func (f *authFixture) pyAuth(t *testing.T, spec map[string]any) []pyAuthResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	spec["server"], spec["ca"] = f.httpsURL, f.ca.CertFile
	var res []pyAuthResult
	// requests prefers these to the client's verify= (its known quirk).
	runPythonJSON(ctx, t, "pyauth.py", spec, &res, "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
	return res
}

func onlyRow(t *testing.T, what string, r pyAuthResult) string {
	t.Helper()
	if r.Error != "" || len(r.Rows) != 1 || len(r.Rows[0]) != 1 {
		t.Fatalf("%s: rows %v, error %q", what, r.Rows, r.Error)
	}
	return fmt.Sprint(r.Rows[0][0])
}

// TestClientAuthentication: the verified user, not X-Trino-User, runs the
// query, with every real client over HTTPS; wrong, expired and forged
// credentials get a 401 the clients print; impersonation goes by the
// policy's rules; credentials over plain HTTP are refused.
func TestClientAuthentication(t *testing.T) {
	f := startAuthGateway(t)

	t.Run("python password", func(t *testing.T) {
		res := f.pyAuth(t, map[string]any{"basic": []string{"alice", "alice-pw-1"}, "queries": []string{"SELECT current_user"}})
		if got := onlyRow(t, "alice", res[0]); got != "alice" {
			t.Fatalf("current_user %q, want alice", got)
		}
		// The same rows as the cluster gives directly.
		const sql = "SELECT returnflag, count(*), sum(quantity) FROM tpch.tiny.lineitem GROUP BY returnflag ORDER BY returnflag"
		res = f.pyAuth(t, map[string]any{"basic": []string{"alice", "alice-pw-1"}, "queries": []string{sql}})
		direct, err := harness.RunQuery(context.Background(), trinoA.URL, "alice", sql, nil)
		if err != nil || res[0].Error != "" || fmt.Sprint(res[0].Rows) != fmt.Sprint(direct) || len(direct) != 3 {
			t.Fatalf("through the gateway %v (%q), directly %v (%v)", res[0].Rows, res[0].Error, direct, err)
		}
		res = f.pyAuth(t, map[string]any{"basic": []string{"alice", "wrong"}, "queries": []string{"SELECT 1"}})
		if !strings.Contains(res[0].Error, "401") || !strings.Contains(res[0].Error, "Access Denied: Invalid credentials") {
			t.Fatalf("wrong password: %q", res[0].Error)
		}
	})
	t.Run("python impersonation", func(t *testing.T) {
		res := f.pyAuth(t, map[string]any{"basic": []string{"svc", "svc-pw-3"}, "user": "carol", "queries": []string{"SELECT current_user"}})
		if got := onlyRow(t, "svc as carol", res[0]); got != "carol" {
			t.Fatalf("current_user %q, want carol", got)
		}
		// The decision log names both: the user it ran as and who asked.
		req, _ := http.NewRequest("GET", "http://"+f.g.cps[0].AdminAddr+"/api/v1/decisions?limit=50", nil)
		req.Header.Set("Authorization", "Bearer "+e2eAdminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var decisions []struct{ User, Principal string }
		err = json.NewDecoder(resp.Body).Decode(&decisions)
		resp.Body.Close()
		if err != nil || !slices.ContainsFunc(decisions, func(d struct{ User, Principal string }) bool { return d.User == "carol" && d.Principal == "svc" }) {
			t.Fatalf("no decision for carol by svc in %+v (%v)", decisions, err)
		}
		res = f.pyAuth(t, map[string]any{"basic": []string{"alice", "alice-pw-1"}, "user": "bob", "queries": []string{"SELECT current_user"}})
		if !strings.Contains(res[0].Error, "Access Denied: User alice cannot impersonate user bob") || !strings.Contains(res[0].Error, "PERMISSION_DENIED") {
			t.Fatalf("alice as bob: rows %v, error %q", res[0].Rows, res[0].Error)
		}
	})
	t.Run("python jwt", func(t *testing.T) {
		res := f.pyAuth(t, map[string]any{"jwt": f.token(t, f.key, f.claims("dora", time.Hour)), "queries": []string{"SELECT current_user"}})
		if got := onlyRow(t, "jwt dora", res[0]); got != "dora" {
			t.Fatalf("current_user %q, want dora (the principal claim)", got)
		}
		// A token for alice naming admin in X-Trino-User is refused: no
		// impersonation rule lets alice be anyone else.
		res = f.pyAuth(t, map[string]any{"jwt": f.token(t, f.key, f.claims("alice", time.Hour)), "user": "admin", "queries": []string{"SELECT current_user"}})
		if !strings.Contains(res[0].Error, "Access Denied: User alice cannot impersonate user admin") {
			t.Fatalf("alice's token as admin: rows %v, error %q", res[0].Rows, res[0].Error)
		}
		expired := f.claims("dora", -time.Hour)
		res = f.pyAuth(t, map[string]any{"jwt": f.token(t, f.key, expired), "queries": []string{"SELECT 1"}})
		if !strings.Contains(res[0].Error, "401") || !strings.Contains(res[0].Error, "Invalid token") {
			t.Fatalf("expired token: %q", res[0].Error)
		}
		other, err := harness.NewJWTSigner("e2e")
		if err != nil {
			t.Fatal(err)
		}
		res = f.pyAuth(t, map[string]any{"jwt": f.token(t, other, f.claims("dora", time.Hour)), "queries": []string{"SELECT 1"}})
		if !strings.Contains(res[0].Error, "401") || !strings.Contains(res[0].Error, "Invalid token") {
			t.Fatalf("forged token: %q", res[0].Error)
		}
		wrongAud := f.claims("dora", time.Hour)
		wrongAud["aud"] = "someone-else"
		res = f.pyAuth(t, map[string]any{"jwt": f.token(t, f.key, wrongAud), "queries": []string{"SELECT 1"}})
		if !strings.Contains(res[0].Error, "401") {
			t.Fatalf("token for another audience: %q", res[0].Error)
		}
	})
	t.Run("cli password", func(t *testing.T) {
		out, err := runCLIArgs(t, []string{"TRINO_PASSWORD=bob-pw-2"}, "--server", f.httpsURL, "--truststore-path", f.ca.CertFile,
			"--user", "bob", "--password", "--execute", "SELECT current_user")
		if err != nil || strings.TrimSpace(out) != `"bob"` {
			t.Fatalf("CLI: %q %v", out, err)
		}
		out, err = runCLIArgs(t, []string{"TRINO_PASSWORD=nope"}, "--server", f.httpsURL, "--truststore-path", f.ca.CertFile,
			"--user", "bob", "--password", "--execute", "SELECT 1")
		if err == nil || !strings.Contains(err.Error(), "Authentication failed") {
			t.Fatalf("CLI with a wrong password: %q %v", out, err)
		}
	})
	t.Run("jdbc ssl", func(t *testing.T) {
		url := "jdbc:trino://" + strings.TrimPrefix(f.httpsURL, "https://") + "?SSL=true&SSLTrustStorePath=" + f.ca.CertFile + "&password=alice-pw-1"
		rows, errs := runJDBCURL(t, url, "alice", []taggedQuery{{Tag: "who", SQL: "SELECT current_user"}})
		if len(errs) > 0 || len(rows["who"]) != 1 || rows["who"][0] != "alice" {
			t.Fatalf("JDBC: rows %v errors %v", rows, errs)
		}
		url = strings.Replace(url, "alice-pw-1", "wrong", 1)
		_, errs = runJDBCURL(t, url, "alice", []taggedQuery{{Tag: "who", SQL: "SELECT 1"}})
		if !strings.Contains(errs["who"], "Authentication failed") {
			t.Fatalf("JDBC with a wrong password: %v", errs)
		}
	})
	t.Run("status and challenges", func(t *testing.T) {
		r := f.do(t, "GET", f.httpsURL+"/v1/query", "", "", "", "alice")
		if r.status != 401 || len(r.challenge) != 2 || r.challenge[0] != `Basic realm="Trino"` || r.challenge[1] != `Bearer realm="Trino"` ||
			!strings.Contains(r.body, `"errorName":"AUTHENTICATION_FAILED"`) {
			t.Fatalf("no credentials: %+v", r)
		}
		r = f.do(t, "POST", f.httpsURL+"/v1/statement", "alice", "wrong", "", "")
		if r.status != 401 || !strings.Contains(r.body, "Access Denied: Invalid credentials") {
			t.Fatalf("wrong password on a submission: %+v", r)
		}
		// Plain HTTP: credentials refused, none required.
		req, _ := http.NewRequest("GET", f.httpURL+"/v1/info", nil)
		req.SetBasicAuth("alice", "alice-pw-1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 403 || !strings.Contains(string(b), "INSECURE_CREDENTIALS") {
			t.Fatalf("password over HTTP: %d %s", resp.StatusCode, b)
		}
		// A client cannot claim TLS: Envoy sets X-Forwarded-Proto from the
		// connection.
		req, _ = http.NewRequest("GET", f.httpURL+"/v1/info", nil)
		req.SetBasicAuth("alice", "alice-pw-1")
		req.Header.Set("X-Forwarded-Proto", "https")
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 403 || !strings.Contains(string(b), "INSECURE_CREDENTIALS") {
			t.Fatalf("password over HTTP claiming https: %d %s", resp.StatusCode, b)
		}
		resp, err = http.Post(f.httpURL+"/v1/statement", "text/plain", strings.NewReader("SELECT 1"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 401 || !strings.Contains(string(b), "HTTPS") {
			t.Fatalf("no credentials over HTTP: %d %s", resp.StatusCode, b)
		}
	})
	t.Run("authorization", func(t *testing.T) {
		res := f.pyAuth(t, map[string]any{"basic": []string{"alice", "alice-pw-1"}, "queries": []string{"SELECT 'alice-list-tag'"}})
		onlyRow(t, "alice's query", res[0])
		var aliceQuery string
		for _, who := range []string{"alice", "bob"} {
			r := f.do(t, "GET", f.httpsURL+"/v1/query", who, who+map[string]string{"alice": "-pw-1", "bob": "-pw-2"}[who], "", "")
			var list []struct {
				QueryID string `json:"queryId"`
				Query   string `json:"query"`
				Session struct {
					User string `json:"user"`
				} `json:"session"`
			}
			if r.status != 200 || json.Unmarshal([]byte(r.body), &list) != nil {
				t.Fatalf("%s: GET /v1/query: %+v", who, r)
			}
			for _, q := range list {
				if q.Session.User != who {
					t.Fatalf("%s's list holds %s's query %s", who, q.Session.User, q.QueryID)
				}
				if strings.Contains(q.Query, "alice-list-tag") {
					aliceQuery = q.QueryID
				}
			}
			if who == "alice" && aliceQuery == "" {
				t.Fatalf("alice's list lacks her query: %s", r.body)
			}
		}
		if r := f.do(t, "GET", f.httpsURL+"/v1/query/"+aliceQuery, "alice", "alice-pw-1", "", ""); r.status != 200 || !strings.Contains(r.body, "alice-list-tag") {
			t.Fatalf("alice reads her query: %d %.300s", r.status, r.body)
		}
		if r := f.do(t, "GET", f.httpsURL+"/v1/query/"+aliceQuery, "bob", "bob-pw-2", "", ""); r.status != 403 || !strings.Contains(r.body, "only its owner (alice)") {
			t.Fatalf("bob reads alice's query: %d %.300s", r.status, r.body)
		}
		if r := f.do(t, "GET", f.httpsURL+"/ui/api/query/"+aliceQuery, "bob", "bob-pw-2", "", ""); r.status != 403 || !strings.Contains(r.body, "only its owner (alice)") {
			t.Fatalf("bob reads alice's query in the UI API: %d %.300s", r.status, r.body)
		}
		if r := f.do(t, "GET", f.httpsURL+"/v1/query/"+aliceQuery, "admin", "admin-pw-4", "", ""); r.status != 200 {
			t.Fatalf("admin reads alice's query: %d %.300s", r.status, r.body)
		}
		// Naming alice in the header does not make bob alice.
		if r := f.do(t, "DELETE", f.httpsURL+"/v1/query/"+aliceQuery, "bob", "bob-pw-2", "", "alice"); r.status != 403 {
			t.Fatalf("bob kills alice's query as X-Trino-User alice: %d %.300s", r.status, r.body)
		}
		for _, ep := range []struct{ method, path string }{{"GET", "/v1/node"}, {"GET", "/v1/status"}, {"GET", "/metrics"}, {"PUT", "/v1/info/state"}} {
			if r := f.do(t, ep.method, f.httpsURL+ep.path, "alice", "alice-pw-1", "", ""); r.status != 403 || !strings.Contains(r.body, "closed on the client listener") {
				t.Fatalf("alice %s %s: %d %.300s", ep.method, ep.path, r.status, r.body)
			}
		}
		if r := f.do(t, "GET", f.httpsURL+"/v1/node", "admin", "admin-pw-4", "", ""); r.status != 200 {
			t.Fatalf("admin GET /v1/node: %d %.300s", r.status, r.body)
		}
	})
	t.Run("no credential in the logs", func(t *testing.T) {
		secrets := append([]string{f.keyLine}, f.tokens...)
		for _, up := range [][2]string{{"alice", "alice-pw-1"}, {"bob", "bob-pw-2"}, {"svc", "svc-pw-3"}, {"admin", "admin-pw-4"}, {"alice", "wrong"}, {"bob", "nope"}} {
			secrets = append(secrets, up[1], base64.StdEncoding.EncodeToString([]byte(up[0]+":"+up[1])))
		}
		secrets = slices.DeleteFunc(secrets, func(s string) bool { return s == "wrong" || s == "nope" }) // too common to grep
		if len(f.tokens) < 4 {
			t.Fatalf("%d tokens used", len(f.tokens))
		}
		noSecretInLogs(t, f.g.procs, secrets)
	})
	t.Run("reload", func(t *testing.T) {
		writePasswords(t, f.passwords, map[string]string{"alice": "alice-pw-1", "erin": "erin-pw-5"})
		if err := harness.Until("the new password file", 30*time.Second, func() bool {
			return f.do(t, "GET", f.httpsURL+"/v1/info", "erin", "erin-pw-5", "", "").status == 200
		}); err != nil {
			t.Fatal(err)
		}
		if r := f.do(t, "GET", f.httpsURL+"/v1/info", "bob", "bob-pw-2", "", ""); r.status != 401 {
			t.Fatalf("bob, removed from the file: %d", r.status)
		}
		next, err := f.ca.Server("gateway-next")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			path string
			pem  []byte
		}{{f.keyFile, next.KeyPEM}, {f.certFile, next.CertPEM}} {
			if err := os.WriteFile(c.path+".tmp", c.pem, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(c.path+".tmp", c.path); err != nil {
				t.Fatal(err)
			}
		}
		want, _ := x509.ParseCertificate(pemBlock(t, next.CertPEM))
		if err := harness.Until("the rotated certificate served", 30*time.Second, func() bool {
			conn, err := tls.Dial("tcp", strings.TrimPrefix(f.httpsURL, "https://"), &tls.Config{RootCAs: f.pool()})
			if err != nil {
				return false
			}
			defer conn.Close()
			return conn.ConnectionState().PeerCertificates[0].SerialNumber.Cmp(want.SerialNumber) == 0
		}); err != nil {
			t.Fatal(err)
		}
	})
}

func pemBlock(t *testing.T, b []byte) []byte {
	t.Helper()
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatal("no PEM block")
	}
	return blk.Bytes
}

// runCLIArgs runs the trino CLI with extra environment and arguments and
// returns its stdout.
func runCLIArgs(t *testing.T, environ []string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	full := append([]string{"--enable-native-access=ALL-UNNAMED", "-jar", env.TrinoCLIPath()}, args...)
	cmd := exec.CommandContext(ctx, env.JavaHome+"/bin/java", full...)
	cmd.Env = append(os.Environ(), environ...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("trino CLI: %v\nstderr: %s", err, stderr.String())
	}
	return string(out), nil
}

// TestJWKSFromURL: Envoy fetches the key set from an https URL whose
// certificate chains to the configured CA, and verifies tokens with it;
// a token signed by another key is refused.
func TestJWKSFromURL(t *testing.T) {
	dir := t.TempDir()
	ca, err := harness.NewCA(dir, "jwks")
	if err != nil {
		t.Fatal(err)
	}
	keysPair, err := ca.Server("keys")
	if err != nil {
		t.Fatal(err)
	}
	gwPair, err := ca.Server("gateway")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := harness.NewJWTSigner("url")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(keysPair.CertPEM, keysPair.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	var fetches atomic.Int64
	keys := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(signer.JWKS())
	}))
	keys.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	keys.StartTLS()
	defer keys.Close()

	tlsAddr, err := harness.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	cfg := twoClusters(deadURL(t))
	cfg.ListenerExtra = map[string]any{
		"tls": map[string]any{"address": tlsAddr, "certFile": gwPair.CertFile, "keyFile": gwPair.KeyFile},
		"authentication": map[string]any{"jwt": map[string]any{
			"issuer": jwtIssuer, "audiences": []string{jwtAudience},
			"jwksURL": keys.URL + "/.well-known/jwks.json", "jwksCAFile": ca.CertFile,
		}},
	}
	g := startGateway(t, 1, cfg)
	f := &authFixture{g: g, ca: ca, httpsURL: "https://" + tlsAddr, httpURL: g.URL(0)}
	now := time.Now()
	claims := map[string]any{"iss": jwtIssuer, "aud": jwtAudience, "sub": "frank", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	var res []pyAuthResult
	// The key set is fetched in the background when the listener starts:
	// poll until a token verifies.
	if err := harness.Until("a token verified with the fetched keys", 30*time.Second, func() bool {
		res = f.pyAuth(t, map[string]any{"jwt": f.token(t, signer, claims), "queries": []string{"SELECT current_user"}})
		return res[0].Error == ""
	}); err != nil {
		t.Fatalf("%v: last error %q", err, res[0].Error)
	}
	if got := onlyRow(t, "frank", res[0]); got != "frank" || fetches.Load() == 0 {
		t.Fatalf("current_user %q, key set fetched %d times", got, fetches.Load())
	}
	other, err := harness.NewJWTSigner("url")
	if err != nil {
		t.Fatal(err)
	}
	res = f.pyAuth(t, map[string]any{"jwt": f.token(t, other, claims), "queries": []string{"SELECT 1"}})
	if !strings.Contains(res[0].Error, "401") || !strings.Contains(res[0].Error, "Invalid token") {
		t.Fatalf("a token from another key: %q", res[0].Error)
	}
}

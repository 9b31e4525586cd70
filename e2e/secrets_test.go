package e2e

import (
	"bufio"
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/e2e/harness"
	"github.com/switchyard-gw/switchyard/pkg/events"
)

// TestNoSecretInLogs uses every secret a gateway knows, the right ones and
// wrong ones (an admin token, a refused token, the clusters' event
// secrets, a refused event secret, credentials on a query), then reads
// every log of the control plane and Envoy: none of them may appear.
func TestNoSecretInLogs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The store's password too: a Redis that requires one.
	const redisPassword = "redis-password-Hn3jL8"
	redis, err := env.StartRedisWithPassword(ctx, fileName(t)+"-redis", redisPassword)
	if err != nil {
		t.Fatal(err)
	}
	g := startGatewayOnStore(t, 1, withAdmin(twoClusters(deadURL(t))), map[string]any{"address": redis.Addr, "password": redisPassword})
	g.procs = append(g.procs, redis.Proc)
	admin := "http://" + g.cps[0].AdminAddr
	const wrongToken = "wrong-admin-token-Zq8vX2"
	const wrongEventSecret = "wrong-event-secret-Kp4wN7"
	const password = "client-password-Rt5yU1"
	secrets := []string{e2eAdminToken, wrongToken, wrongEventSecret, password, redisPassword}
	for _, tr := range []*harness.Trino{trinoA, trinoB} {
		secrets = append(secrets, tr.EventSecret)
	}

	call := func(method, url, header, value string, want int) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set(header, value)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d, want %d", method, url, resp.StatusCode, want)
		}
	}
	call("GET", admin+"/api/v1/clusters", "Authorization", "Bearer "+e2eAdminToken, 200)
	call("GET", admin+"/api/v1/clusters", "Authorization", "Bearer "+wrongToken, 401)
	call("POST", admin+"/api/v1/clusters/a/deactivate", "Authorization", "Bearer "+wrongToken, 401)
	call("POST", admin+"/api/v1/clusters/nope/drain", "Authorization", "Bearer "+e2eAdminToken, 404) // a change refused: audited
	call("POST", admin+events.Path, events.SecretHeader, wrongEventSecret, 401)
	if out, err := cli(ctx, g, "cluster", "list"); err != nil {
		t.Fatalf("cli: %v %s", err, out)
	}
	// A query with credentials the gateway passes on, and one that runs:
	// the clusters' event listeners post its events with their secrets.
	if _, err := harness.RunQuery(ctx, g.URL(0), "e2e", "SELECT 1", map[string]string{"X-Trino-Extra-Credential": "password=" + password}); err != nil {
		t.Fatal(err)
	}
	if err := harness.Poll(ctx, "the query's completion event", time.Minute, 100*time.Millisecond, func() error {
		req, _ := http.NewRequestWithContext(ctx, "GET", admin+"/api/v1/history?limit=5", nil)
		req.Header.Set("Authorization", "Bearer "+e2eAdminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var b strings.Builder
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			b.WriteString(sc.Text())
		}
		if !strings.Contains(b.String(), "FINISHED") {
			return os.ErrNotExist
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	noSecretInLogs(t, g.procs, secrets)
}

// noSecretInLogs reads every line of the processes' logs for each secret.
func noSecretInLogs(t *testing.T, procs []*harness.Proc, secrets []string) {
	t.Helper()
	checked := 0
	for _, p := range procs {
		b, err := os.ReadFile(p.LogPath)
		if err != nil {
			t.Fatal(err)
		}
		checked += len(b)
		for i, line := range strings.Split(string(b), "\n") {
			for _, s := range secrets {
				if strings.Contains(line, s) {
					t.Errorf("%s line %d holds a secret (%.8s...): %.300s", p.Name, i+1, s, line)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no log to check")
	}
	t.Logf("%d secrets absent from %d bytes of logs of %d processes", len(secrets), checked, len(procs))
}

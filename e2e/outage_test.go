package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/e2e/harness"
)

// TestPollsSurviveRedisAndControlPlaneOutage checks the claim of the README
// and docs/architecture.md ("Shared state"): polls keep working through a
// Redis outage, and prefixed polls need no control plane. A query whose
// result takes several pages is read through Envoy, page by page, while
// Redis and the only control plane are killed (SIGKILL): every row arrives,
// equal to the same query sent straight to the cluster, and no poll is
// answered 502-504. While both are down a new submission ends with a
// Trino-shaped GATEWAY_UNAVAILABLE (within a minute: a hang detector). Once
// both are back (Redis on its port, the control plane with its
// configuration) submissions work again.
func TestPollsSurviveRedisAndControlPlaneOutage(t *testing.T) {
	g := startGateway(t, 1, twoClusters(deadURL(t)))
	ctx := context.Background()
	const sql = "SELECT orderkey, linenumber, partkey, comment FROM tpch.tiny.lineitem ORDER BY orderkey, linenumber"
	want, err := harness.RunQuery(ctx, trinoA.URL, "direct", sql, nil)
	if err != nil {
		t.Fatal(err)
	}

	// Read up to the first page with rows, with everything up.
	qr, err := harness.Submit(ctx, g.URL(0), "e2e", sql, nil)
	if err != nil {
		t.Fatal(err)
	}
	if qr.Error != nil {
		t.Fatalf("submission refused: %s: %s", qr.Error.ErrorName, qr.Error.Message)
	}
	owner := ownerOf(t, qr.NextURI)
	var rows [][]any
	retried := 0
	next := func() {
		t.Helper()
		var n int
		qr, n, err = harness.FetchRetries(ctx, http.MethodGet, qr.NextURI)
		retried += n
		if err != nil {
			t.Fatalf("poll of query %s (owner %s), %d rows read: %v", qr.ID, owner, len(rows), err)
		}
		if qr.Error != nil {
			t.Fatalf("query %s (owner %s), %d rows read: %s: %s", qr.ID, owner, len(rows), qr.Error.ErrorName, qr.Error.Message)
		}
		rows = append(rows, qr.Data...)
	}
	for len(rows) == 0 && qr.NextURI != "" {
		next()
	}
	if qr.NextURI == "" {
		t.Fatalf("query %s returned all %d rows in one page; the test needs several", qr.ID, len(rows))
	}
	before := len(rows)

	// Redis and the only control plane die.
	g.redis.Kill()
	g.cps[0].Kill()
	if !g.redis.Exited() || !g.cps[0].Exited() {
		t.Fatalf("redis exited %v, control plane exited %v after SIGKILL", g.redis.Exited(), g.cps[0].Exited())
	}

	// The prefixed nextUri keeps working through Envoy alone.
	pagesAfter := 0
	for qr.NextURI != "" {
		n := len(rows)
		next()
		if len(rows) > n {
			pagesAfter++
		}
	}
	if retried != 0 {
		t.Errorf("query %s: %d poll retries of 502-504 answers, want none", qr.ID, retried)
	}
	if pagesAfter < 2 {
		t.Errorf("only %d pages with rows after the outage began, want several (the test reads most of the result during the outage)", pagesAfter)
	}
	if len(rows) != len(want) || fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Fatalf("through the outage the gateway returned %d rows (%d before it), the cluster %d; want the same rows", len(rows), before, len(want))
	}
	t.Logf("query on %s: %d rows, %d before the outage and %d in %d pages during it", owner, len(rows), before, len(rows)-before, pagesAfter)

	// A new submission needs the control plane: a readable error, no hang.
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	start := time.Now()
	down, err := harness.Submit(sctx, g.URL(0), "e2e", "SELECT 1", nil)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("a submission during the outage ended after %v with %v; want a FAILED QueryResults (HTTP 200) with GATEWAY_UNAVAILABLE", took.Round(time.Millisecond), err)
	}
	if down.Error == nil || down.Error.ErrorName != "GATEWAY_UNAVAILABLE" || down.Error.Message == "" || down.Stats.State != "FAILED" || down.NextURI != "" {
		t.Fatalf("a submission during the outage answered state %q, nextUri %q, error %+v; want FAILED with GATEWAY_UNAVAILABLE and a message", down.Stats.State, down.NextURI, down.Error)
	}
	t.Logf("a submission during the outage failed after %v: %s: %s", took.Round(time.Millisecond), down.Error.ErrorName, down.Error.Message)

	// Both come back; submissions work again.
	_, portText, err := net.SplitHostPort(g.redis.Addr)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		t.Fatal(err)
	}
	if g.redis, err = env.StartRedisOn(ctx, g.redis.Name, port); err != nil {
		t.Fatal(err)
	}
	g.procs = append(g.procs, g.redis.Proc)
	restarted, err := env.RestartSwitchyard(ctx, g.cps[0])
	if err != nil {
		t.Fatal(err)
	}
	g.procs = append(g.procs, restarted.Proc)
	g.cps[0] = restarted
	back := time.Now()
	err = harness.Poll(ctx, "submissions to work again", time.Minute, 200*time.Millisecond, func() error {
		return track(g.URL(0), "SELECT 1").Err
	})
	if err != nil {
		t.Fatal(err)
	}
	recovered := time.Since(back)
	const small = "SELECT name FROM tpch.tiny.nation ORDER BY name"
	wantSmall, err := harness.RunQuery(ctx, trinoA.URL, "direct", small, nil)
	if err != nil {
		t.Fatal(err)
	}
	owners := map[string]int{}
	for i := range 4 {
		owner, got, _ := runCounted(t, g.URL(0), small)
		if fmt.Sprint(got) != fmt.Sprint(wantSmall) {
			t.Fatalf("query %d after the restart (owner %s): rows %v, want %v", i, owner, got, wantSmall)
		}
		owners[owner]++
	}
	t.Logf("after the restart the first submission succeeded within %v; 4 more ran on %v", recovered.Round(time.Millisecond), owners)
}

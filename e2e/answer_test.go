package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/e2e/harness"
)

// TestRequestsRightAfterSubmission: a submission is one ext_proc exchange
// on the client's critical path; the query's owner is recorded by the
// answer observer while the client already reads the coordinator's first
// answer, so a client can ask about its query before the record exists.
// Six clients through two Envoys and two control-plane replicas (every
// ext_proc stream, the observer's included, may reach either replica) ask
// at once after each submission for the nextUri without the gateway
// prefix, then /v1/query/{id}: every request reaches the query's owner on
// real Trino (a wrong coordinator answers 404 or 410, the gateway
// QUERY_NOT_FOUND).
func TestRequestsRightAfterSubmission(t *testing.T) {
	ha, _ := startHA(t, 2, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	const clients, each = 6, 15
	var (
		mu     sync.Mutex
		owners = map[string]int{}
		wg     sync.WaitGroup
		errs   = make(chan error, clients)
	)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				owner, err := askRightAfterSubmission(ctx, ha.URL(), fmt.Sprintf("SELECT count(*) FROM tpch.tiny.nation WHERE nationkey >= %d", c*100+i))
				if err != nil {
					errs <- fmt.Errorf("client %d, query %d: %w", c, i, err)
					return
				}
				mu.Lock()
				owners[owner]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	if owners["a"] == 0 || owners["b"] == 0 {
		t.Fatalf("owners %v: want both clusters to own queries", owners)
	}
	var waited, found, timedOut float64
	for _, r := range ha.Replicas {
		found += replicaMetric(t, r, `switchyard_owner_waits_total{outcome="found"}`)
		timedOut += replicaMetric(t, r, `switchyard_owner_waits_total{outcome="timeout"}`)
		waited += replicaMetric(t, r, `switchyard_owner_wait_seconds_sum`)
	}
	if timedOut != 0 {
		t.Fatalf("%v lookups timed out waiting for an owner record", timedOut)
	}
	avg := 0.0
	if found > 0 {
		avg = waited / found * 1000
	}
	t.Logf("%d queries, owners %v; %v of %d unprefixed lookups arrived before the owner record and waited for it (%.1f ms on average)",
		clients*each, owners, found, 2*clients*each, avg)
}

// askRightAfterSubmission submits sql, then at once asks for its first
// nextUri without the gateway prefix and the query's info; both must come
// from the query's coordinator. It follows the query to its end and
// returns the owning cluster.
func askRightAfterSubmission(ctx context.Context, gateway, sql string) (string, error) {
	qr, err := harness.Submit(ctx, gateway, "e2e", sql, nil)
	if err != nil {
		return "", err
	}
	if qr.Error != nil {
		return "", fmt.Errorf("submission failed: %s: %s", qr.Error.ErrorName, qr.Error.Message)
	}
	next, err := url.Parse(qr.NextURI)
	if err != nil {
		return "", err
	}
	parts := strings.SplitN(next.Path, "/", 5) // "", "_sy", cluster, coordinator, rest
	if len(parts) != 5 || parts[1] != "_sy" {
		return "", fmt.Errorf("nextUri %s has no gateway prefix", qr.NextURI)
	}
	owner := parts[2]
	// 1. The nextUri as a client that rebuilds URLs sends it.
	next.Path = "/" + parts[4]
	got, err := harness.Fetch(ctx, http.MethodGet, next.String())
	if err != nil {
		return "", fmt.Errorf("unprefixed nextUri right after submission: %w", err)
	}
	if got.ID != qr.ID || got.Error != nil {
		return "", fmt.Errorf("unprefixed nextUri right after submission: query %s, error %+v", got.ID, got.Error)
	}
	// 2. The query's info, as the web UI and tools ask for it (Trino
	// knows the query once its first nextUri was polled: 410 before).
	info, status, err := getDocument(ctx, gateway+"/v1/query/"+qr.ID)
	if err != nil {
		return "", err
	}
	if status != http.StatusOK || info["queryId"] != qr.ID {
		return "", fmt.Errorf("GET /v1/query/%s right after submission: HTTP %d, %v", qr.ID, status, clipDoc(info))
	}
	for got.NextURI != "" {
		if got, err = harness.Fetch(ctx, http.MethodGet, got.NextURI); err != nil {
			return "", err
		}
	}
	if got.Error != nil {
		return "", fmt.Errorf("query %s failed: %s", qr.ID, got.Error.Message)
	}
	return owner, nil
}

// getDocument GETs a JSON document as user e2e.
func getDocument(ctx context.Context, uri string) (map[string]any, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("X-Trino-User", "e2e")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, resp.StatusCode, err
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, resp.StatusCode, errors.Join(fmt.Errorf("HTTP %d, not JSON: %.200s", resp.StatusCode, b), err)
	}
	return doc, resp.StatusCode, nil
}

// clipDoc shows a document's error, or its first characters.
func clipDoc(doc map[string]any) string {
	if e, ok := doc["error"]; ok {
		return fmt.Sprint(e)
	}
	s := fmt.Sprint(doc)
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

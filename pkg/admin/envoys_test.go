package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard-gw/switchyard/pkg/config"
	"github.com/switchyard-gw/switchyard/pkg/lifecycle"
	"github.com/switchyard-gw/switchyard/pkg/store"
	"github.com/switchyard-gw/switchyard/pkg/xds"
)

// TestEnvoysAPI: /api/v1/envoys lists what the xDS server says, counts
// the current and the behind, and needs a viewer's token.
func TestEnvoysAPI(t *testing.T) {
	m := emptyFleet(t)
	pushed := time.Date(2026, 12, 5, 13, 0, 0, 0, time.UTC)
	list := []xds.Envoy{
		{Node: "edge-a", Applied: map[string]string{"cds": "v2"}, Current: true},
		{Node: "edge-b", Applied: map[string]string{"cds": "v1"}, Behind: 1500 * time.Millisecond},
	}
	var served []xds.Envoy
	h := Handler(Options{Gatherer: prometheus.NewRegistry(), Ready: func(*http.Request) error { return nil }, Fleet: m, Tokens: tokens,
		Envoys: func() ([]xds.Envoy, string, time.Time) {
			if served == nil {
				return nil, "", time.Time{}
			}
			return served, "v2", pushed
		}})

	if code, body := call(t, h, "GET", "/api/v1/envoys", "", ""); code != 401 {
		t.Fatalf("without a token: %d %s", code, body)
	}
	code, body := call(t, h, "GET", "/api/v1/envoys", viewerToken, "")
	if code != 200 || body != "{\"version\":\"\",\"current\":0,\"behind\":0,\"envoys\":[]}\n" {
		t.Fatalf("before any Envoy: %d %s", code, body)
	}
	served = list
	code, body = call(t, h, "GET", "/api/v1/envoys", viewerToken, "")
	var got envoysView
	if err := json.Unmarshal([]byte(body), &got); code != 200 || err != nil {
		t.Fatalf("%d %s (%v)", code, body, err)
	}
	if got.Version != "v2" || got.Published == nil || !got.Published.Equal(pushed) || got.Current != 1 || got.Behind != 1 || len(got.Envoys) != 2 ||
		got.Envoys[1].Node != "edge-b" || got.Envoys[1].Applied["cds"] != "v1" || got.Envoys[1].BehindSeconds != 1.5 {
		t.Fatalf("got %+v from %s", got, body)
	}
}

// emptyFleet is a lifecycle manager of one routing group and no clusters.
func emptyFleet(t *testing.T) *lifecycle.Manager {
	t.Helper()
	cfg := config.Defaults()
	cfg.Routing.DefaultGroup = "adhoc"
	cfg.Groups = []config.Group{{Name: "adhoc", Strategy: config.StrategyRoundRobin}}
	m := lifecycle.New(lifecycle.Options{Config: &cfg, Store: store.NewMemory().Documents, Health: allHealthy{}})
	if err := m.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	return m
}

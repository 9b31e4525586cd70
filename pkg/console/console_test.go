package console

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/health"
)

// The console's pages are served from the binary with headers that keep
// a page holding a token to itself; only GET and HEAD.
func TestHandler(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	for path, want := range map[string]string{"/console/": "<title>Switchyard console</title>", "/console/app.js": "async function api(", "/console/style.css": "svg.spark"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("%s: %d %.100s", path, resp.StatusCode, b)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q", path, csp)
		}
	}
	resp, err := http.Post(srv.URL+"/console/", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d", resp.StatusCode)
	}
	resp, _ = http.Get(srv.URL + "/console/nope.js")
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("a missing asset: %d", resp.StatusCode)
	}
}

// The sampler keeps the last Keep samples of each cluster's load, from
// its healthy coordinators.
func TestSampler(t *testing.T) {
	f := &fleet.Fleet{Clusters: []fleet.Cluster{
		{Name: "a", Coordinators: []fleet.Coordinator{{Name: "0", Key: "a/0"}, {Name: "1", Key: "a/1"}}},
		{Name: "b", Coordinators: []fleet.Coordinator{{Name: "0", Key: "b/0"}}},
	}}
	status := map[string]health.Status{
		"a/0": {State: health.Healthy, Load: health.Load{Running: 3, Queued: 1}},
		"a/1": {State: health.Unhealthy, Load: health.Load{Running: 9}},
		"b/0": {State: health.Unhealthy},
	}
	s := &Sampler{Fleet: func() *fleet.Fleet { return f }, Status: func(k string) (health.Status, bool) { st, ok := status[k]; return st, ok }, Keep: 3}
	t0 := time.Unix(1764900000, 0)
	for i := range 5 {
		s.sample(t0.Add(time.Duration(i) * time.Second))
	}
	got := s.Samples()
	if len(got) != 3 || !got[0].Time.Equal(t0.Add(2*time.Second)) {
		t.Fatalf("samples %+v", got)
	}
	if a := got[2].Clusters["a"]; a != (ClusterLoad{Running: 3, Queued: 1, Healthy: true}) {
		t.Fatalf("a: %+v", a)
	}
	if b := got[2].Clusters["b"]; b.Healthy {
		t.Fatalf("b: %+v", b)
	}
}

package admin

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "switchyard_test_total", Help: "x"})
	reg.MustRegister(c)
	c.Inc()
	ready := errors.New("store down")
	h := Handler(Options{Gatherer: reg, Ready: func(*http.Request) error { return ready }})
	tests := []struct {
		path   string
		status int
		want   string
	}{
		{"/healthz", 200, `"status":"ok"`},
		{"/readyz", 503, `"error":"not ready: store down"`},
		{"/metrics", 200, "switchyard_test_total 1"},
		{"/nope", 404, `"error":"no such endpoint: GET /nope"`},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", tt.path, nil))
		if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.want) {
			t.Errorf("%s: %d %s", tt.path, rec.Code, rec.Body)
		}
		if tt.path != "/metrics" {
			var v map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
				t.Errorf("%s: not JSON: %s", tt.path, rec.Body)
			}
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/debug/pprof/", nil))
	if rec.Code != 404 {
		t.Errorf("pprof served without being enabled: %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	Handler(Options{Gatherer: reg, Ready: func(*http.Request) error { return nil }, Pprof: true}).ServeHTTP(rec, httptest.NewRequest("GET", "/debug/pprof/", nil))
	if rec.Code != 200 {
		t.Errorf("pprof index: %d", rec.Code)
	}
	ready = nil
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != 200 {
		t.Errorf("readyz %d", rec.Code)
	}
}

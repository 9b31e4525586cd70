package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard-gw/switchyard/pkg/doctor"
)

func TestDoctorEndpoint(t *testing.T) {
	m := emptyFleet(t)
	var asked []string
	h := Handler(Options{Gatherer: prometheus.NewRegistry(), Ready: func(*http.Request) error { return nil }, Fleet: m, Tokens: tokens,
		Doctor: func(_ context.Context, cluster string) (doctor.Report, error) {
			asked = append(asked, cluster)
			switch cluster {
			case "nope":
				return doctor.Report{}, fmt.Errorf("%w %q", doctor.ErrUnknownCluster, cluster)
			case "broken":
				return doctor.Report{}, errors.New("the fleet is not loaded")
			}
			return doctor.Report{Errors: 1, Clusters: []doctor.ClusterReport{{Cluster: "blue", Findings: []doctor.Finding{{Check: "forwarded-headers-off", Severity: doctor.Error}}}}}, nil
		}})
	for _, tt := range []struct {
		path   string
		status int
		body   string
	}{
		{"/api/v1/doctor", 200, `"check":"forwarded-headers-off"`},
		{"/api/v1/doctor?cluster=blue", 200, `"errors":1`},
		{"/api/v1/doctor?cluster=nope", 404, `no such cluster \"nope\"`},
		{"/api/v1/doctor?cluster=broken", 500, "the fleet is not loaded"},
		{"/api/v1/doctor?clusters=blue", 400, "unknown parameter clusters"},
	} {
		req := httptest.NewRequest("GET", tt.path, nil)
		req.Header.Set("Authorization", "Bearer "+operatorToken)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.body) || rec.Header().Get("Content-Type") != "application/json" {
			t.Errorf("GET %s: %d %s, want %d with %s", tt.path, rec.Code, rec.Body.String(), tt.status, tt.body)
		}
	}
	if strings.Join(asked, ",") != ",blue,nope,broken" {
		t.Errorf("the doctor was asked for %q", asked)
	}
}

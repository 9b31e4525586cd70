package cli

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/switchyard-gw/switchyard/pkg/doctor"
)

func TestDoctor(t *testing.T) {
	clean := doctor.Report{Clusters: []doctor.ClusterReport{{Cluster: "blue", Group: "adhoc", Findings: []doctor.Finding{},
		Facts: doctor.Facts{Cluster: "blue", State: "active", Coordinator: "0", URL: "http://10.0.0.1:8080", Reachable: true, Version: "476", RetryPolicy: "TASK",
			Nodes: []doctor.Node{{ID: "c", Coordinator: true}, {ID: "w1"}, {ID: "w2"}}}}}}
	bad := doctor.Report{Errors: 1, Warnings: 1, Clusters: []doctor.ClusterReport{{Cluster: "red", Group: "etl", Findings: []doctor.Finding{
		{Check: "forwarded-headers-off", Severity: doctor.Error, Cluster: "red", Node: "0", Message: "the coordinator refuses forwarded requests", Fix: "set http-server.process-forwarded=true"},
		{Check: "shutdown-not-permitted", Severity: doctor.Warning, Cluster: "red", Node: "red-w1", Message: "no shutdown", Fix: "grant it"},
	}, Facts: doctor.Facts{Cluster: "red", Reachable: true, Version: "476"}}}}
	t.Run("clean: text and exit 0", func(t *testing.T) {
		f := newFakeAdmin(t, routes(map[string][]any{"GET /api/v1/doctor": {clean}}))
		useAdmin(t, f, "tok")
		out, _, err := runCLI("doctor")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"cluster blue (group adhoc, active)", "Trino 476, 3 node(s), 2 worker(s), retry-policy TASK", "ok: nothing found", "1 cluster(s) checked: 0 error(s), 0 warning(s)"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		if reqs := f.requests(); len(reqs) != 1 || reqs[0].URI != "/api/v1/doctor" || reqs[0].Auth != "Bearer tok" {
			t.Errorf("requests %+v", reqs)
		}
	})
	t.Run("errors: findings with fixes, exit 1", func(t *testing.T) {
		f := newFakeAdmin(t, routes(map[string][]any{"GET /api/v1/doctor": {bad}}))
		useAdmin(t, f, "tok")
		out, _, err := runCLI("doctor", "--cluster", "red")
		if !errors.Is(err, ErrDoctorFindings) || ExitCode(err) != 1 {
			t.Fatalf("err %v (exit %d), want ErrDoctorFindings, exit 1", err, ExitCode(err))
		}
		for _, want := range []string{"ERROR   forwarded-headers-off [0]: the coordinator refuses forwarded requests", "fix: set http-server.process-forwarded=true", "WARNING shutdown-not-permitted [red-w1]", "1 error(s), 1 warning(s)"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		if reqs := f.requests(); len(reqs) != 1 || reqs[0].URI != "/api/v1/doctor?cluster=red" {
			t.Errorf("requests %+v", reqs)
		}
	})
	t.Run("json", func(t *testing.T) {
		f := newFakeAdmin(t, routes(map[string][]any{"GET /api/v1/doctor": {bad}}))
		useAdmin(t, f, "tok")
		out, _, err := runCLI("doctor", "--format", "json")
		if !errors.Is(err, ErrDoctorFindings) {
			t.Fatalf("err %v", err)
		}
		if !strings.Contains(out, `"check": "forwarded-headers-off"`) || !strings.Contains(out, `"errors": 1`) {
			t.Errorf("JSON output:\n%s", out)
		}
	})
	t.Run("bad format is a usage error", func(t *testing.T) {
		_, _, err := runCLI("doctor", "--format", "yaml")
		if ExitCode(err) != 2 || !strings.Contains(err.Error(), "--format must be text or json") {
			t.Fatalf("err %v (exit %d)", err, ExitCode(err))
		}
	})
	t.Run("unknown cluster: the API's 404", func(t *testing.T) {
		f := newFakeAdmin(t, func(string) (int, any) {
			return http.StatusNotFound, map[string]string{"error": `no such cluster "nope"`}
		})
		useAdmin(t, f, "tok")
		_, _, err := runCLI("doctor", "--cluster", "nope")
		if err == nil || !strings.Contains(err.Error(), `no such cluster "nope"`) {
			t.Fatalf("err %v", err)
		}
	})
}

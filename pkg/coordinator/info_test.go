package coordinator

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

// testdata/info.json and status.json were captured from Trino 476 (the
// e2e harness's single-node cluster).
func TestInfo(t *testing.T) {
	f := newFake(t, answer(200, string(readTestdata(t, "info.json"))))
	info, err := New(Options{}).Info(context.Background(), f.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	want := Info{NodeVersion: NodeVersion{"476"}, Environment: "switchyard", Coordinator: true, Starting: false, Uptime: Duration(6120 * time.Millisecond)}
	if info != want {
		t.Fatalf("got %+v\nwant %+v", info, want)
	}
}

func TestParseInfo(t *testing.T) {
	tests := []struct {
		name, doc string
		starting  bool
		err       string
	}{
		{"started", `{"nodeVersion":{"version":"476"},"starting":false}`, false, ""},
		{"starting", `{"starting":true}`, true, ""},
		{"unknown fields ignored", `{"starting":false,"somethingNew":{"a":[1]}}`, false, ""},
		{"no starting field", `{}`, false, `no "starting" field`},
		{"null starting", `{"starting":null}`, false, `no "starting" field`},
		{"wrong type", `{"starting":"false"}`, false, "cannot unmarshal"},
		// Informational fields in an unknown shape do not fail the
		// health check that reads "starting".
		{"wrong uptime", `{"starting":false,"uptime":12}`, false, ""},
		{"wrong version shape", `{"starting":true,"nodeVersion":"476","environment":7}`, true, ""},
		{"not an object", `[]`, false, "cannot unmarshal"},
		{"not json", `<html>`, false, "invalid character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := ParseInfo([]byte(tt.doc))
			if tt.err != "" {
				wantErr(t, err, tt.err)
				return
			}
			if err != nil || info.Starting != tt.starting {
				t.Fatalf("got %+v, %v; want starting=%v", info, err, tt.starting)
			}
		})
	}
}

func TestStatus(t *testing.T) {
	f := newFake(t, answer(200, string(readTestdata(t, "status.json"))))
	s, err := New(Options{}).Status(context.Background(), f.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if s.NodeID != "capture" || s.NodeVersion.Version != "476" || !s.Coordinator || s.Processors != 2 ||
		s.HeapUsed != 407408848 || s.HeapAvailable != 1073741824 || s.NonHeapUsed != 147417112 ||
		s.MemoryInfo.Pool.MaxBytes != 751619277 || s.MemoryInfo.Pool.FreeBytes != 751619277 || s.Uptime.Std() != 6120*time.Millisecond {
		t.Fatalf("status %+v", s)
	}
	roundTrip(t, s, func(b []byte) (Status, error) { var v Status; return v, json.Unmarshal(b, &v) })
}

// FuzzParseInfo: a /v1/info document either fails to decode or decodes to
// an Info that re-encodes to a stable document.
func FuzzParseInfo(f *testing.F) {
	f.Add(readTestdata(f, "info.json"))
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := ParseInfo(b)
		if err != nil {
			return
		}
		if info.Uptime < 0 {
			t.Fatalf("negative uptime %d", info.Uptime)
		}
		roundTrip(t, info, ParseInfo)
	})
}

package querystats

import (
	"bytes"
	"compress/gzip"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchyard-gw/switchyard/pkg/coordinator"
)

// readDoc reads testdata/name, gunzipping a .gz file.
func readDoc(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(name, ".gz") {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if b, err = io.ReadAll(zr); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	return b
}

// detail parses a recorded GET /v1/query/{id} answer.
func detail(t testing.TB, name string) *coordinator.QueryDetail {
	t.Helper()
	d, err := coordinator.ParseQueryDetail(readDoc(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return d
}

// summaries parses a recorded GET /v1/query answer.
func summaries(t testing.TB, name string) []coordinator.QuerySummary {
	t.Helper()
	qs, err := coordinator.ParseQueries(readDoc(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return qs
}

// near says whether two figures agree to a relative 1e-9 (durations in
// seconds are sums of floats).
func near(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

// stageByID finds a stage of s by its ID.
func stageByID(t *testing.T, s Stats, id string) StageStats {
	t.Helper()
	for _, st := range s.Stages {
		if st.StageID == id {
			return st
		}
	}
	t.Fatalf("no stage %s in %+v", id, s.Stages)
	return StageStats{}
}

package cost

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const ioDoc = `{"inputTableColumnInfos":[{"table":{},"estimate":{"outputRowCount":6001215.0,"outputSizeInBytes":7.83988912E8,"cpuCost":7.8E8,"maxMemory":0.0,"networkCost":0.0}},
{"estimate":{"outputRowCount":25.0,"outputSizeInBytes":2000.0,"cpuCost":1,"maxMemory":0,"networkCost":0}}],
"estimate":{"outputRowCount":4898951.02,"outputSizeInBytes":6.4E8,"cpuCost":1.5E9,"maxMemory":"NaN","networkCost":0.0}}`

func TestParse(t *testing.T) {
	e, err := parse(ioDoc)
	if err != nil {
		t.Fatal(err)
	}
	if e["inputBytes"] != 783990912.0 || e["inputRows"] != 6001240.0 || e["inputTables"] != 2 || e["outputRows"] != 4898951.0 {
		t.Fatalf("%v", e)
	}
	if _, ok := e["maxMemory"]; ok {
		t.Fatalf("unknown maxMemory reported: %v", e)
	}
	if _, err := parse("not json"); err == nil {
		t.Fatal("accepted garbage")
	}
}

func TestNormalise(t *testing.T) {
	a := Normalise("SELECT  *\n FROM t WHERE x = 'a  b';")
	b := Normalise(" SELECT * FROM t\tWHERE x = 'a  b'")
	if a != b || !strings.Contains(a, "'a  b'") {
		t.Fatalf("%q %q", a, b)
	}
}

// A fake coordinator that answers EXPLAIN over two pages.
func TestEstimateAsksOnceThenCaches(t *testing.T) {
	var posts atomic.Int32
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPost:
			posts.Add(1)
			body := make([]byte, 200)
			n, _ := r.Body.Read(body)
			if !strings.HasPrefix(string(body[:n]), "EXPLAIN (TYPE IO, FORMAT JSON) SELECT") || r.Header.Get("X-Trino-Catalog") != "tpch" {
				http.Error(w, "bad request", 400)
				return
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"nextUri": srv.URL + "/next"})
		default:
			_ = json.NewEncoder(w).Encode(map[string]any{"data": [][]any{{ioDoc}}})
		}
	}))
	defer srv.Close()
	e := &Estimator{Coordinator: func() (string, bool) { return srv.URL, true }, Timeout: time.Second, TTL: time.Minute, MaxEntries: 10, Client: srv.Client()}
	for i := range 3 {
		est, err := e.Estimate(context.Background(), "SELECT *\nFROM lineitem "+strings.Repeat(" ", i), "alice", "tpch", "sf1")
		if err != nil || est["inputBytes"] != 783990912.0 {
			t.Fatalf("%v %v", est, err)
		}
	}
	if posts.Load() != 1 {
		t.Fatalf("%d EXPLAINs for the same normalised query", posts.Load())
	}
}

func TestEstimateTimesOut(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(3 * time.Second):
		}
	}))
	defer srv.Close()
	e := &Estimator{Coordinator: func() (string, bool) { return srv.URL, true }, Timeout: 100 * time.Millisecond, TTL: time.Minute, MaxEntries: 10, Client: srv.Client()}
	start := time.Now()
	if _, err := e.Estimate(context.Background(), "SELECT 1", "a", "", ""); err == nil {
		t.Fatal("no error")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("took %v", d)
	}
}

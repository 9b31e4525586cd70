package cost

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/coordinator"
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

// testdata/explain-io.json was captured from Trino 476: a join of
// tpch.sf1.lineitem and orders filtered on orderstatus; the join's output
// is unknown ("NaN").
func TestParseTrino476(t *testing.T) {
	b, err := os.ReadFile("testdata/explain-io.json")
	if err != nil {
		t.Fatal(err)
	}
	e, err := parse(string(b))
	if err != nil {
		t.Fatal(err)
	}
	want := Estimate{"inputTables": 2, "inputRows": 6730628.0, "inputBytes": 860865909.0, "maxMemory": 76876997.0, "networkCost": 0.0}
	if len(e) != len(want) {
		t.Fatalf("got %v, want %v", e, want)
	}
	for k, v := range want {
		if e[k] != v {
			t.Fatalf("%s = %v, want %v (all: %v)", k, e[k], v, e)
		}
	}
}

func TestParseTolerance(t *testing.T) {
	tests := []struct {
		name, doc string
		want      Estimate // nil: an error
	}{
		{"unknown fields ignored", `{"inputTableColumnInfos":[],"estimate":{"outputRowCount":3,"novel":{"x":1}},"novel":[1]}`,
			Estimate{"inputTables": 0, "inputRows": 0.0, "inputBytes": 0.0, "outputRows": 3.0, "outputBytes": 0.0, "cpuCost": 0.0, "maxMemory": 0.0, "networkCost": 0.0}},
		{"infinite input is unknown", `{"inputTableColumnInfos":[{"estimate":{"outputRowCount":"Infinity","outputSizeInBytes":1}}],"estimate":{"outputRowCount":"-Infinity","cpuCost":"NaN","outputSizeInBytes":-4}}`,
			Estimate{"inputTables": 1, "maxMemory": 0.0, "networkCost": 0.0}},
		{"overflowing sum is unknown", `{"inputTableColumnInfos":[{"estimate":{"outputRowCount":1e308,"outputSizeInBytes":1}},{"estimate":{"outputRowCount":1e308,"outputSizeInBytes":1}}],"estimate":{}}`,
			Estimate{"inputTables": 2, "outputRows": 0.0, "outputBytes": 0.0, "cpuCost": 0.0, "maxMemory": 0.0, "networkCost": 0.0}},
		{"estimate of the wrong type", `{"estimate":{"outputRowCount":true}}`, nil},
		{"unknown string", `{"estimate":{"outputRowCount":"lots"}}`, nil},
		{"inputs not a list", `{"inputTableColumnInfos":{}}`, nil},
		{"trailing data", `{} {}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := parse(tt.doc)
			if tt.want == nil {
				if err == nil {
					t.Fatalf("accepted: %v", e)
				}
				return
			}
			if err != nil || len(e) != len(tt.want) {
				t.Fatalf("got %v, %v; want %v", e, err, tt.want)
			}
			for k, v := range tt.want {
				if e[k] != v {
					t.Fatalf("%s = %v, want %v (all: %v)", k, e[k], v, e)
				}
			}
		})
	}
}

// FuzzParseIOPlan: an EXPLAIN (TYPE IO, FORMAT JSON) document either fails
// or gives policy input of finite, non-negative numbers that encodes as
// JSON; the document itself decodes, re-encodes and decodes stably.
func FuzzParseIOPlan(f *testing.F) {
	f.Add(ioDoc)
	if b, err := os.ReadFile("testdata/explain-io.json"); err == nil {
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, doc string) {
		est, err := parse(doc)
		if err != nil {
			return
		}
		for k, v := range est {
			switch n := v.(type) {
			case int:
				if k != "inputTables" || n < 0 {
					t.Fatalf("%s = %d", k, n)
				}
			case float64:
				if math.IsNaN(n) || math.IsInf(n, 0) || n < 0 {
					t.Fatalf("%s = %v, want a finite non-negative number", k, n)
				}
			default:
				t.Fatalf("%s is a %T", k, v)
			}
		}
		if _, err := json.Marshal(est); err != nil {
			t.Fatalf("the policy input does not encode: %v", err)
		}
		var p ioPlan
		if err := json.Unmarshal([]byte(doc), &p); err != nil {
			t.Fatalf("parse accepted what does not decode: %v", err)
		}
		b1, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		est2, err := parse(string(b1))
		if err != nil {
			t.Fatalf("the re-encoded document fails: %v\n%s", err, b1)
		}
		var p2 ioPlan
		_ = json.Unmarshal(b1, &p2)
		if b2, _ := json.Marshal(p2); string(b1) != string(b2) {
			t.Fatalf("decode/encode is not stable:\n%s\n%s", b1, b2)
		}
		e1, _ := json.Marshal(est)
		e2, _ := json.Marshal(est2)
		if string(e1) != string(e2) {
			t.Fatalf("the estimate changed on re-encoding: %s, then %s", e1, e2)
		}
	})
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
			// The EXPLAIN runs as the submitting user, in their session.
			if !strings.HasPrefix(string(body[:n]), "EXPLAIN (TYPE IO, FORMAT JSON) SELECT") || r.Header.Get("X-Trino-Catalog") != "tpch" ||
				r.Header.Get("X-Trino-Schema") != "sf1" || r.Header.Get("X-Trino-User") != "alice" || r.Header.Get("X-Trino-Source") != "switchyard-cost" {
				http.Error(w, "bad request", 400)
				return
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"nextUri": srv.URL + "/next"})
		default:
			if r.Header.Get("X-Trino-User") != "alice" {
				http.Error(w, "bad request", 400)
				return
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"data": [][]any{{ioDoc}}})
		}
	}))
	defer srv.Close()
	e := &Estimator{Coordinator: func() (string, bool) { return srv.URL, true }, Timeout: time.Second, TTL: time.Minute, MaxEntries: 10, Client: coordinator.New(coordinator.Options{})}
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

// An EXPLAIN that outlives the estimate's timeout ends with a deadline
// error, and the coordinator sees the EXPLAIN cancelled (DELETE of its
// nextUri); nothing is cached, so the next estimate asks again.
func TestEstimateTimesOut(t *testing.T) {
	var posts, deletes atomic.Int32
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPost:
			posts.Add(1)
			_ = json.NewEncoder(w).Encode(map[string]any{"id": "q1", "nextUri": srv.URL + "/v1/statement/executing/q1/s/1"})
		case http.MethodDelete:
			if r.URL.Path == "/v1/statement/executing/q1/s/1" {
				deletes.Add(1)
			}
			w.WriteHeader(http.StatusNoContent)
		default:
			<-r.Context().Done() // the EXPLAIN never finishes
		}
	}))
	defer srv.Close()
	e := &Estimator{Coordinator: func() (string, bool) { return srv.URL, true }, Timeout: 50 * time.Millisecond, TTL: time.Minute, MaxEntries: 10, Client: coordinator.New(coordinator.Options{})}
	for i := range 2 {
		_, err := e.Estimate(context.Background(), "SELECT 1", "a", "", "")
		if !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), "EXPLAIN: coordinator "+srv.URL) {
			t.Fatalf("got %v, want an EXPLAIN deadline error naming the coordinator", err)
		}
		if posts.Load() != int32(i+1) || deletes.Load() != int32(i+1) {
			t.Fatalf("after %d estimates: %d EXPLAINs, %d cancelled; want %d of each", i+1, posts.Load(), deletes.Load(), i+1)
		}
	}
}

func TestEstimateFailures(t *testing.T) {
	tests := []struct {
		name   string
		answer string
		err    string
	}{
		{"query failed", `{"id":"q1","error":{"message":"line 1:23: Table 'tpch.tiny.nope' does not exist","errorName":"TABLE_NOT_FOUND"}}`,
			"EXPLAIN failed: line 1:23: Table 'tpch.tiny.nope' does not exist"},
		{"not an IO plan", `{"id":"q1","data":[["{\"estimate\":{\"outputRowCount\":true}}"]]}`, "EXPLAIN IO output: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(tt.answer)) }))
			defer srv.Close()
			e := &Estimator{Coordinator: func() (string, bool) { return srv.URL, true }, Timeout: time.Second, TTL: time.Minute, MaxEntries: 10, Client: coordinator.New(coordinator.Options{})}
			_, err := e.Estimate(context.Background(), "SELECT * FROM nope", "a", "", "")
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("got %v, want %q", err, tt.err)
			}
		})
	}
	e := &Estimator{Coordinator: func() (string, bool) { return "", false }, Timeout: time.Second, Client: coordinator.New(coordinator.Options{})}
	if _, err := e.Estimate(context.Background(), "SELECT 1", "a", "", ""); err == nil || !strings.Contains(err.Error(), "no healthy coordinator") {
		t.Fatalf("got %v", err)
	}
}

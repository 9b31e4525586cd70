package metadata

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/coordinator"
)

// statsColumnsJSON are SHOW STATS' result columns as Trino describes them.
var statsColumnsJSON = []map[string]any{
	{"name": "column_name", "type": "varchar"},
	{"name": "data_size", "type": "double"},
	{"name": "distinct_values_count", "type": "double"},
	{"name": "nulls_fraction", "type": "double"},
	{"name": "row_count", "type": "double"},
	{"name": "low_value", "type": "varchar"},
	{"name": "high_value", "type": "varchar"},
}

// statement is how the fake coordinator answers one SQL text: the rows of
// a result, or an error.
type statement struct {
	rows  [][]any
	error map[string]any
}

// trinoFake speaks enough of Trino's statement protocol: POST
// /v1/statement registers a query whose nextUri GET answers with the
// columns and rows (or the error) scripted for the SQL text.
type trinoFake struct {
	srv        *httptest.Server
	statements map[string]statement
	// gate, when set, holds each POST until it is closed.
	gate <-chan struct{}

	mu       sync.Mutex
	sql      []string
	headers  []http.Header
	queries  map[string]string // query ID -> SQL
	inflight atomic.Int32
	peak     atomic.Int32
}

func newTrinoFake(t *testing.T, statements map[string]statement) *trinoFake {
	f := &trinoFake{statements: statements, queries: map[string]string{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *trinoFake) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/statement":
		n := f.inflight.Add(1)
		defer f.inflight.Add(-1)
		for p := f.peak.Load(); n > p && !f.peak.CompareAndSwap(p, n); p = f.peak.Load() {
		}
		if f.gate != nil {
			select {
			case <-f.gate:
			case <-time.After(5 * time.Second):
			}
		}
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		id := fmt.Sprintf("q%d", len(f.sql))
		f.sql = append(f.sql, string(b))
		f.headers = append(f.headers, r.Header.Clone())
		f.queries[id] = string(b)
		f.mu.Unlock()
		_ = json.NewEncoder(w).Encode(map[string]any{"id": id, "nextUri": f.srv.URL + "/v1/statement/executing/" + id + "/1",
			"stats": map[string]any{"state": "QUEUED"}})
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/statement/executing/"):
		id := strings.Split(strings.TrimPrefix(r.URL.Path, "/v1/statement/executing/"), "/")[0]
		f.mu.Lock()
		sql, ok := f.queries[id]
		f.mu.Unlock()
		st, known := f.statements[sql]
		if !ok || !known {
			http.Error(w, "unscripted statement "+sql, http.StatusInternalServerError)
			return
		}
		page := map[string]any{"id": id}
		if st.error != nil {
			page["error"] = st.error
		} else {
			page["columns"] = statsColumnsJSON
			page["data"] = st.rows
		}
		_ = json.NewEncoder(w).Encode(page)
	default:
		http.NotFound(w, r)
	}
}

func (f *trinoFake) sent() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.sql...)
}

func (f *trinoFake) source() *Trino {
	return &Trino{
		Coordinator: func() (string, bool) { return f.srv.URL, true },
		Client:      coordinator.New(coordinator.Options{}),
	}
}

func tableNotFound(name string) statement {
	return statement{error: map[string]any{"message": "line 1:16: Table '" + name + "' does not exist",
		"errorCode": 46, "errorName": "TABLE_NOT_FOUND", "errorType": "USER_ERROR"}}
}

func TestTrino(t *testing.T) {
	f := newTrinoFake(t, map[string]statement{
		// Variable-width columns have a data_size, fixed-width ones NULL.
		`SHOW STATS FOR "tpch"."sf1"."orders"`: {rows: [][]any{
			{"orderkey", nil, 1.5e6, 0, nil, "1", "6000000"},
			{"comment", 7.5e7, 1.4e6, 0, nil, nil, nil},
			{"orderstatus", 1.5e6, 3, 0, nil, nil, nil},
			{nil, nil, nil, nil, 1.5e6, nil, nil},
		}},
		// Only fixed-width columns: the size is unknown, not 0.
		`SHOW STATS FOR "tpch"."sf1"."nation"`: {rows: [][]any{
			{"nationkey", nil, 25, 0, nil, "0", "24"},
			{nil, nil, nil, nil, 25, nil, nil},
		}},
		// No statistics at all: a known table with nothing known.
		`SHOW STATS FOR "memory"."default"."t"`: {rows: [][]any{
			{"x", nil, nil, nil, nil, nil, nil},
			{nil, nil, nil, nil, nil, nil, nil},
		}},
		`SHOW STATS FOR "tpch"."sf1"."missing"`: tableNotFound("tpch.sf1.missing"),
		// A quote in a name stays inside the identifier.
		`SHOW STATS FOR "hive"."s"."we""ird"`: {rows: [][]any{{nil, nil, nil, nil, 3, nil, nil}}},
		`SHOW STATS FOR "hive"."s"."broken"`: {error: map[string]any{"message": "boom", "errorCode": 65536,
			"errorName": "GENERIC_INTERNAL_ERROR", "errorType": "INTERNAL_ERROR"}},
	})
	got, err := f.source().Lookup(context.Background(), []string{
		"tpch.sf1.orders", "tpch.sf1.nation", "memory.default.t", "tpch.sf1.missing", `hive.s."we""ird"`, "hive.s.broken", "not.a.table.name",
	})
	// The internal error is an error for its table only.
	wantErr(t, err, "hive.s.broken", "GENERIC_INTERNAL_ERROR")
	if strings.Contains(err.Error(), "missing") {
		t.Errorf("TABLE_NOT_FOUND reported as an error: %v", err)
	}
	equal(t, "answers", got, map[string]Table{
		"tpch.sf1.orders":  {Rows: 1.5e6, RowsKnown: true, Bytes: 7.65e7, BytesKnown: true},
		"tpch.sf1.nation":  {Rows: 25, RowsKnown: true},
		"memory.default.t": {},
		`hive.s."we""ird"`: {Rows: 3, RowsKnown: true},
	})
	sent := f.sent()
	if len(sent) != 6 {
		t.Fatalf("sent %q, want one statement per valid name", sent)
	}
	for _, sql := range sent {
		if _, ok := f.statements[sql]; !ok {
			t.Errorf("unexpected statement %q", sql)
		}
	}
	h := f.headers[0]
	if h.Get("X-Trino-User") != "switchyard" || h.Get("X-Trino-Source") != "switchyard-metadata" {
		t.Errorf("session headers %v", h)
	}
}

// Lookups run Parallel statements at once, no more.
func TestTrinoBoundedConcurrency(t *testing.T) {
	statements := map[string]statement{}
	var tables []string
	for i := range 10 {
		name := fmt.Sprintf("t%d", i)
		tables = append(tables, "c.s."+name)
		statements[showStatsSQL("c", "s", name)] = statement{rows: [][]any{{nil, nil, nil, nil, i, nil, nil}}}
	}
	f := newTrinoFake(t, statements)
	gate := make(chan struct{})
	f.gate = gate
	// Open the gate once 4 statements wait at it: the lookup reached its
	// bound (and with a broken bound, a 5th would be counted).
	// (The fake's own 5s bound opens it if the bound is never reached.)
	go func() {
		defer close(gate)
		for deadline := time.Now().Add(5 * time.Second); f.inflight.Load() < 4 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
	}()
	got, err := f.source().Lookup(context.Background(), tables)
	<-gate // the opener has returned
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 10 {
		t.Fatalf("%d answers, want 10", len(got))
	}
	equal(t, "peak concurrency", f.peak.Load(), int32(4))
}

func TestTrinoNoCoordinator(t *testing.T) {
	tr := &Trino{Coordinator: func() (string, bool) { return "", false }, Client: coordinator.New(coordinator.Options{})}
	_, err := tr.Lookup(context.Background(), []string{"a.b.c"})
	wantErr(t, err, "no healthy coordinator")
	_, err = (&Trino{}).Lookup(context.Background(), []string{"a.b.c"})
	wantErr(t, err, "no client")
}

// A coordinator that does not answer is an error when the context ends.
func TestTrinoContext(t *testing.T) {
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(stop) })
	tr := &Trino{Coordinator: func() (string, bool) { return srv.URL, true }, Client: coordinator.New(coordinator.Options{})}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	got, err := tr.Lookup(ctx, []string{"a.b.c"})
	wantErr(t, err, "a.b.c", "deadline")
	if len(got) != 0 {
		t.Fatalf("answers %v", got)
	}
}

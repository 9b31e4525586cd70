package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/switchyard-gw/switchyard/pkg/trino"
)

// sinkRecorder records ingested events; err makes Ingest fail.
type sinkRecorder struct {
	mu       sync.Mutex
	clusters []string
	events   []*Event
	err      error
}

func (s *sinkRecorder) Ingest(_ context.Context, cluster string, e *Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.clusters = append(s.clusters, cluster)
	s.events = append(s.events, e)
	return nil
}

func fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestHandler(t *testing.T) {
	completed := fixture(t, "completed_finished.json")
	created := fixture(t, "created.json")
	secrets := map[string]string{"secret-a": "a", "secret-b": "b", "": "nobody"}
	tests := []struct {
		name      string
		method    string
		secret    string // "" sends no header
		body      string
		maxBytes  int64
		sinkErr   error
		status    int
		errorName string // of the error document; "" for success
		msg       string // part of the message
		cluster   string // the cluster the sink got
		kind      string // labels of the counted event
		outcome   string
	}{
		{name: "completed event", secret: "secret-a", body: completed, status: 200, cluster: "a", kind: "completed", outcome: "ingested"},
		{name: "created event of cluster b", secret: "secret-b", body: created, status: 200, cluster: "b", kind: "created", outcome: "ingested"},
		{name: "GET", method: http.MethodGet, secret: "secret-a", status: 405, errorName: "BAD_REQUEST", msg: "method GET not allowed"},
		{name: "PUT", method: http.MethodPut, secret: "secret-a", body: completed, status: 405, errorName: "BAD_REQUEST", msg: "POSTs events to /events/trino"},
		{name: "no secret", body: completed, status: 401, errorName: "BAD_REQUEST", msg: "missing or unknown X-Switchyard-Event-Secret", kind: "unknown", outcome: "unauthorized"},
		{name: "wrong secret", secret: "secret-c", body: completed, status: 401, errorName: "BAD_REQUEST", msg: "missing or unknown", kind: "unknown", outcome: "unauthorized"},
		{name: "prefix of a secret", secret: "secret", body: completed, status: 401, errorName: "BAD_REQUEST", kind: "unknown", outcome: "unauthorized"},
		{name: "too large", secret: "secret-a", body: completed, maxBytes: 1000, status: 413, errorName: "BAD_REQUEST", msg: "larger than the limit of 1000 bytes", kind: "unknown", outcome: "too_large"},
		{name: "not JSON", secret: "secret-a", body: "hello", status: 400, errorName: "BAD_REQUEST", msg: "malformed event", kind: "unknown", outcome: "malformed"},
		{name: "empty", secret: "secret-a", status: 400, errorName: "BAD_REQUEST", msg: "empty body", kind: "unknown", outcome: "malformed"},
		{name: "no query ID", secret: "secret-a", body: `{"metadata":{"query":"SELECT 1"}}`, status: 400, errorName: "MALFORMED_QUERY_ID", msg: "no metadata.queryId", kind: "unknown", outcome: "malformed"},
		{name: "bad query ID", secret: "secret-a", body: `{"metadata":{"queryId":"x/y"}}`, status: 400, errorName: "MALFORMED_QUERY_ID", msg: `"x/y" is not a Trino query ID`, kind: "unknown", outcome: "malformed"},
		{name: "sink fails", secret: "secret-a", body: completed, sinkErr: errors.New("redis down"), status: 503, errorName: "GATEWAY_UNAVAILABLE",
			msg: "the completed event of query 20261204_024120_00027_4z7zn could not be recorded", kind: "completed", outcome: "failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := &sinkRecorder{err: tt.sinkErr}
			reg := prometheus.NewPedanticRegistry()
			var logs bytes.Buffer
			h := Handler(Options{Secrets: secrets, MaxBytes: tt.maxBytes, Sink: sink, Registerer: reg,
				Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			req := httptest.NewRequest(method, Path, strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/json; charset=utf-8")
			if tt.secret != "" {
				req.Header.Set(SecretHeader, tt.secret)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)

			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			if tt.errorName == "" {
				if len(sink.events) != 1 || sink.clusters[0] != tt.cluster || string(sink.events[0].Kind) != tt.kind {
					t.Errorf("sink got %v %v, want one %s event of cluster %s", sink.clusters, sink.events, tt.kind, tt.cluster)
				}
			} else {
				var doc struct {
					Error trino.QueryError `json:"error"`
				}
				if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil || rec.Header().Get("Content-Type") != "application/json" {
					t.Fatalf("error answer is not a JSON document (%v, %s): %s", err, rec.Header().Get("Content-Type"), rec.Body)
				}
				if doc.Error.ErrorName != tt.errorName || !strings.Contains(doc.Error.Message, tt.msg) || doc.Error.ErrorCode == 0 || doc.Error.ErrorType == "" {
					t.Errorf("error %+v, want %s saying %q", doc.Error, tt.errorName, tt.msg)
				}
				if len(sink.events) != 0 {
					t.Errorf("sink got %d events", len(sink.events))
				}
			}
			if tt.status == 405 && rec.Header().Get("Allow") != "POST" {
				t.Errorf("405 without Allow: POST (%q)", rec.Header().Get("Allow"))
			}
			// Nothing says which clusters exist, nor which secrets.
			for _, leak := range []string{"secret-a", "secret-b", "nobody"} {
				if strings.Contains(rec.Body.String(), leak) || strings.Contains(logs.String(), leak) {
					t.Errorf("%q in the answer or the log:\n%s\n%s", leak, rec.Body, logs.String())
				}
			}
			if tt.outcome != "" {
				if n := testutil.ToFloat64(h.(*handler).received.WithLabelValues(tt.kind, tt.outcome)); n != 1 {
					t.Errorf("switchyard_events_received_total{kind=%q,outcome=%q} = %v, want 1", tt.kind, tt.outcome, n)
				}
			}
			if n := testutil.CollectAndCount(reg, "switchyard_events_received_total"); n != 7 {
				t.Errorf("%d series, want the 7 initialised ones", n)
			}
			// An event is logged at debug, a refused one at warn; a
			// request of another method is no event.
			switch logged := logs.String(); tt.status {
			case http.StatusMethodNotAllowed:
				if logged != "" {
					t.Errorf("logged a %s request:\n%s", method, logged)
				}
			case http.StatusOK:
				if !strings.Contains(logged, "level=DEBUG") {
					t.Errorf("no debug line in the log:\n%s", logged)
				}
			default:
				if !strings.Contains(logged, "level=WARN") {
					t.Errorf("no warning in the log:\n%s", logged)
				}
			}
		})
	}
}

// TestHandlerReadsNoMoreThanMaxBytes: a body without a Content-Length is
// cut at MaxBytes, not buffered whole.
func TestHandlerReadsNoMoreThanMaxBytes(t *testing.T) {
	body := &countingReader{r: strings.NewReader(`{"metadata":{"queryId":"q","query":"` + strings.Repeat("x", 10<<20) + `"}}`)}
	h := Handler(Options{Secrets: map[string]string{"s": "a"}, MaxBytes: 4096})
	req := httptest.NewRequest(http.MethodPost, Path, body)
	req.ContentLength = -1
	req.Header.Set(SecretHeader, "s")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", rec.Code)
	}
	if body.n > 64<<10 {
		t.Errorf("read %d bytes of the body, limit 4096", body.n)
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestHandlerOverHTTP runs the handler in a server: a nil Sink accepts
// events, a second handler on the same registerer shares the counter.
func TestHandlerOverHTTP(t *testing.T) {
	reg := prometheus.NewRegistry()
	opts := Options{Secrets: map[string]string{"s": "a"}, Registerer: reg}
	_ = Handler(opts)
	srv := httptest.NewServer(Handler(opts))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+Path, strings.NewReader(fixture(t, "created.json")))
	req.Header.Set(SecretHeader, "s")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if n := testutil.ToFloat64(Handler(opts).(*handler).received.WithLabelValues("created", "ingested")); n != 1 {
		t.Errorf("created/ingested = %v, want 1", n)
	}
}

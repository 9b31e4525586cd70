package trinosim

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
)

var (
	queryIDPattern = regexp.MustCompile(`^\d{8}_\d{6}_\d{5}_[a-z]{5}$`)
	slugPattern    = `y[0-9a-f]{40}`
)

func TestSubmitAndForwardedHeaders(t *testing.T) {
	tests := []struct {
		name string
		hdr  map[string]string
		base string // scheme://host[:port]prefix expected in the URIs
	}{
		{"Host header", nil, "http://example.com"},
		{"forwarded proto and host", map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "gw.example:8443"}, "https://gw.example:8443"},
		{"forwarded port replaces the port", map[string]string{"X-Forwarded-Host": "gw:1", "X-Forwarded-Port": "8080"}, "http://gw:8080"},
		{"forwarded port adds a port", map[string]string{"X-Forwarded-Host": "gw", "X-Forwarded-Port": "8080"}, "http://gw:8080"},
		{"forwarded port on IPv6", map[string]string{"X-Forwarded-Host": "[::1]:9", "X-Forwarded-Port": "8080"}, "http://[::1]:8080"},
		{"first of a list", map[string]string{"X-Forwarded-Proto": "https, http", "X-Forwarded-Host": "a, b"}, "https://a"},
		{"prefix", map[string]string{"X-Forwarded-Host": "host", "X-Forwarded-Port": "8080", "X-Forwarded-Prefix": "/_sy/a/0"}, "http://host:8080/_sy/a/0"},
		{"prefix trailing slash", map[string]string{"X-Forwarded-Prefix": "/_sy/a/0/"}, "http://example.com/_sy/a/0"},
		{"prefix without slash", map[string]string{"X-Forwarded-Prefix": "p"}, "http://example.com/p"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Options{Name: "sim-a"})
			hdr := map[string]string{"X-Trino-User": "alice"}
			for k, v := range tt.hdr {
				hdr[k] = v
			}
			rec := serve(s, http.MethodPost, "/v1/statement", hdr, "SELECT 1")
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
			}
			if got := rec.Header().Get("X-Trinosim-Name"); got != "sim-a" {
				t.Errorf("X-Trinosim-Name %q, want sim-a", got)
			}
			p := decode(t, rec)
			if !queryIDPattern.MatchString(p.ID) {
				t.Errorf("query ID %q does not have Trino's format", p.ID)
			}
			if want := tt.base + "/ui/query.html?" + p.ID; p.InfoURI != want {
				t.Errorf("infoUri %q, want %q", p.InfoURI, want)
			}
			next := regexp.MustCompile("^" + regexp.QuoteMeta(tt.base+"/v1/statement/queued/"+p.ID+"/") + slugPattern + "/1$")
			if !next.MatchString(p.NextURI) {
				t.Errorf("nextUri %q, want %s", p.NextURI, next)
			}
			if p.Stats.State != "QUEUED" || !p.Stats.Queued || p.Stats.Scheduled {
				t.Errorf("stats %+v, want QUEUED, queued, not scheduled", p.Stats)
			}
			if p.Warnings == nil || len(p.Warnings) != 0 {
				t.Errorf("warnings %v, want []", p.Warnings)
			}
			var raw map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil {
				t.Fatal(err)
			}
			stats := raw["stats"].(map[string]any)
			for _, f := range []string{"nodes", "totalSplits", "queuedSplits", "runningSplits", "completedSplits", "cpuTimeMillis",
				"wallTimeMillis", "queuedTimeMillis", "elapsedTimeMillis", "processedRows", "processedBytes", "peakMemoryBytes", "spilledBytes"} {
				if v, ok := stats[f].(float64); !ok || v != 0 {
					t.Errorf("stats.%s = %v, want 0", f, stats[f])
				}
			}
		})
	}
}

func TestQueryIDsAreDistinct(t *testing.T) {
	s := New(Options{})
	seen := map[string]bool{}
	suffix := ""
	for i := 0; i < 50; i++ {
		p := submit(t, s, nil)
		if seen[p.ID] {
			t.Fatalf("duplicate query ID %s", p.ID)
		}
		seen[p.ID] = true
		if suffix == "" {
			suffix = p.ID[len(p.ID)-5:]
		} else if p.ID[len(p.ID)-5:] != suffix {
			t.Fatalf("suffix of %s differs from %s", p.ID, suffix)
		}
	}
}

func TestFormatQueryID(t *testing.T) {
	got := formatQueryID(time.Date(2026, 11, 24, 0, 32, 30, 0, time.UTC), 100006, "tuymr")
	if want := "20261124_003230_00006_tuymr"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestTokenRules(t *testing.T) {
	type step struct {
		kind   string // "queued" or "executing"
		slug   string // "" = the query's slug
		id     string // "" = the query's ID
		token  string
		status int
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"next token", []step{{"queued", "", "", "1", 200}}},
		{"same token again", []step{{"queued", "", "", "1", 200}, {"queued", "", "", "1", 200}}},
		{"then next", []step{{"queued", "", "", "1", 200}, {"executing", "", "", "2", 200}, {"executing", "", "", "2", 200}, {"executing", "", "", "3", 200}}},
		{"skip a token", []step{{"executing", "", "", "3", 410}}},
		{"skip after advancing", []step{{"queued", "", "", "1", 200}, {"executing", "", "", "3", 410}}},
		{"go back", []step{{"queued", "", "", "1", 200}, {"executing", "", "", "2", 200}, {"queued", "", "", "1", 410}}},
		{"token zero", []step{{"queued", "", "", "0", 410}}},
		{"beyond the last page", []step{{"executing", "", "", "99", 410}}},
		{"not a number", []step{{"queued", "", "", "x1", 404}}},
		{"wrong slug", []step{{"queued", "y0000000000000000000000000000000000000000", "", "1", 404}}},
		{"unknown query", []step{{"queued", "", "20200101_000000_00000_abcde", "1", 404}}},
		{"queued token on executing URI", []step{{"executing", "", "", "1", 404}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Options{Pages: 3, QueuedPolls: 1})
			p := submit(t, s, nil)
			parts := strings.Split(pathOf(t, p.NextURI), "/") // "", v1, statement, queued, id, slug, token
			var prev string
			for i, st := range tt.steps {
				id, slug := parts[4], parts[5]
				if st.id != "" {
					id = st.id
				}
				if st.slug != "" {
					slug = st.slug
				}
				rec := serve(s, http.MethodGet, "/v1/statement/"+st.kind+"/"+id+"/"+slug+"/"+st.token, nil, "")
				if rec.Code != st.status {
					t.Fatalf("step %d (%s token %s): status %d, want %d: %s", i, st.kind, st.token, rec.Code, st.status, rec.Body.String())
				}
				if st.status == 404 && st.id != "" && !strings.Contains(rec.Body.String(), "Query not found") {
					t.Errorf("step %d: body %q, want Query not found", i, rec.Body.String())
				}
				if i > 0 && st.status == 200 && tt.steps[i-1].token == st.token && rec.Body.String() != prev {
					t.Errorf("step %d: repeated token returned a different page:\n%s\n%s", i, prev, rec.Body.String())
				}
				prev = rec.Body.String()
			}
		})
	}
}

func TestFullQueryWalk(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"defaults", Options{}},
		{"more queued polls", Options{QueuedPolls: 3, Pages: 5, RowsPerPage: 7, Columns: 3}},
		{"more pages than pre-rendered", Options{Pages: maxDataPages + 4, RowsPerPage: 2, Columns: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(tt.opts)
			o := s.opts
			pages := walk(t, s, submit(t, s, nil), 1000)
			if want := 1 + o.QueuedPolls + o.Pages; len(pages) != want {
				t.Fatalf("%d responses, want %d", len(pages), want)
			}
			rows := 0
			for i, p := range pages {
				rows += len(p.Data)
				switch {
				case i < o.QueuedPolls:
					if p.Stats.State != "QUEUED" || p.Columns != nil || p.Data != nil {
						t.Errorf("page %d: state %s, %d columns, %d rows; want QUEUED without columns", i, p.Stats.State, len(p.Columns), len(p.Data))
					}
					if !strings.Contains(p.NextURI, "/v1/statement/queued/") {
						t.Errorf("page %d: nextUri %s is not a queued URI", i, p.NextURI)
					}
				case i == o.QueuedPolls:
					if p.Stats.State != "RUNNING" || len(p.Columns) != o.Columns || p.Data != nil {
						t.Errorf("dispatch page: state %s, %d columns, %d rows; want RUNNING with columns, no data", p.Stats.State, len(p.Columns), len(p.Data))
					}
					if !strings.Contains(p.NextURI, "/v1/statement/executing/") {
						t.Errorf("dispatch page: nextUri %s is not an executing URI", p.NextURI)
					}
				default:
					if len(p.Data) != o.RowsPerPage {
						t.Errorf("page %d: %d rows, want %d", i, len(p.Data), o.RowsPerPage)
					}
					for _, row := range p.Data {
						if len(row) != o.Columns {
							t.Fatalf("page %d: row %v has %d values, want %d", i, row, len(row), o.Columns)
						}
						if _, ok := row[0].(float64); !ok {
							t.Fatalf("page %d: first value %v is not a bigint", i, row[0])
						}
						if len(row) > 1 {
							if _, ok := row[1].(string); !ok {
								t.Fatalf("page %d: second value %v is not a varchar", i, row[1])
							}
						}
					}
				}
			}
			last := pages[len(pages)-1]
			if last.Stats.State != "FINISHED" || last.NextURI != "" || last.Error != nil {
				t.Fatalf("last page: state %s, nextUri %q, error %v; want FINISHED without nextUri", last.Stats.State, last.NextURI, last.Error)
			}
			if want := o.Pages * o.RowsPerPage; rows != want {
				t.Fatalf("%d rows, want %d", rows, want)
			}
			rec := serve(s, http.MethodGet, "/v1/query/"+last.ID, userHdr, "")
			var qi queryInfo
			if err := json.Unmarshal(rec.Body.Bytes(), &qi); err != nil || rec.Code != 200 {
				t.Fatalf("GET /v1/query/%s: %d %s %v", last.ID, rec.Code, rec.Body.String(), err)
			}
			if qi.State != "FINISHED" || qi.Session.User != "alice" || qi.Query != "SELECT 1" {
				t.Fatalf("query info %+v", qi)
			}
		})
	}
}

func TestCancel(t *testing.T) {
	s := New(Options{})
	p := submit(t, s, nil)
	p = walk1(t, s, p)
	rec := serve(s, http.MethodDelete, pathOf(t, p.NextURI), nil, "")
	if rec.Code != http.StatusNoContent {
		t.Fatalf("DELETE: status %d, want 204", rec.Code)
	}
	for i := 0; i < 2; i++ { // the same answer on repeated GETs
		rec = serve(s, http.MethodGet, pathOf(t, p.NextURI), nil, "")
		if rec.Code != http.StatusOK {
			t.Fatalf("GET after cancel: status %d", rec.Code)
		}
		var raw struct {
			NextURI *string `json:"nextUri"`
			Stats   struct{ State string }
			Error   json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil {
			t.Fatal(err)
		}
		want := `{"message":"Query was canceled","errorCode":3,"errorName":"USER_CANCELED","errorType":"USER_ERROR"}`
		if string(raw.Error) != want || raw.Stats.State != "FAILED" || raw.NextURI != nil {
			t.Fatalf("GET after cancel: %s", rec.Body.String())
		}
	}
	rec = serve(s, http.MethodGet, "/v1/query", userHdr, "")
	var list []queryInfo
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].State != "FAILED" || list[0].ErrorCode == nil || list[0].ErrorCode.Name != "USER_CANCELED" {
		t.Fatalf("query list %s", rec.Body.String())
	}
	rec = serve(s, http.MethodDelete, "/v1/statement/executing/20200101_000000_00000_abcde/y0/1", nil, "")
	if rec.Code != http.StatusNotFound {
		t.Fatalf("DELETE of an unknown query: status %d, want 404", rec.Code)
	}
}

// walk1 follows one nextUri.
func walk1(t *testing.T, s http.Handler, p page) page {
	t.Helper()
	rec := serve(s, http.MethodGet, pathOf(t, p.NextURI), nil, "")
	if rec.Code != 200 {
		t.Fatalf("GET %s: %d", p.NextURI, rec.Code)
	}
	return decode(t, rec)
}

func TestFailQuery(t *testing.T) {
	s := New(Options{QueuedPolls: 2, FailQuery: func(sql string) bool { return strings.Contains(sql, "boom") }})
	rec := serve(s, http.MethodPost, "/v1/statement", userHdr, "SELECT boom")
	pages := walk(t, s, decode(t, rec), 10)
	if len(pages) != 3 {
		t.Fatalf("%d responses, want 3 (POST and two queued GETs)", len(pages))
	}
	last := pages[2]
	if last.Error == nil || last.Error.ErrorName != "SYNTAX_ERROR" || last.Stats.State != "FAILED" {
		t.Fatalf("last page %+v, want FAILED with SYNTAX_ERROR", last)
	}
}

func TestErrorsAndMethods(t *testing.T) {
	s := New(Options{})
	tests := []struct {
		method, target string
		hdr            map[string]string
		body           string
		status         int
		contains       string
	}{
		{"POST", "/v1/statement", nil, "SELECT 1", 401, "X-Trino-User must be sent"},
		{"POST", "/v1/statement", userHdr, "  ", 400, "empty"},
		{"POST", "/v1/statement", userHdr, strings.Repeat("x", maxSQLBytes+1), 413, "too large"},
		{"GET", "/v1/statement", userHdr, "", 405, ""},
		{"PUT", "/v1/statement/queued/a/b/1", nil, "", 405, ""},
		{"GET", "/v1/statement/queued/a/b", nil, "", 404, ""},
		{"GET", "/v1/statement/queued/a/b/1/extra", nil, "", 404, ""},
		{"GET", "/v1/query", nil, "", 401, ""},
		{"GET", "/v1/query", userHdr, "", 200, "[]"},
		{"GET", "/v1/query/20200101_000000_00000_abcde", userHdr, "", 410, ""},
		{"POST", "/v1/info", nil, "", 405, ""},
		{"GET", "/nope", nil, "", 404, ""},
		{"GET", "/ui/query.html?x", nil, "", 200, "trinosim"},
	}
	for _, tt := range tests {
		rec := serve(s, tt.method, tt.target, tt.hdr, tt.body)
		if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.contains) {
			t.Errorf("%s %s: status %d body %q; want %d containing %q", tt.method, tt.target, rec.Code, rec.Body.String(), tt.status, tt.contains)
		}
	}
}

func TestInfo(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	s := New(Options{Now: clock.Now})
	clock.Advance(time.Minute)
	rec := serve(s, http.MethodGet, "/v1/info", nil, "")
	want := `{"nodeVersion":{"version":"476-sim"},"environment":"sim","coordinator":true,"starting":false,"uptime":"1.00m"}`
	if rec.Code != 200 || rec.Body.String() != want {
		t.Fatalf("/v1/info: %d %s", rec.Code, rec.Body.String())
	}
	rec = serve(s, http.MethodGet, "/v1/info/state", nil, "")
	if rec.Code != 200 || rec.Body.String() != `"ACTIVE"` {
		t.Fatalf("/v1/info/state: %d %s", rec.Code, rec.Body.String())
	}
}

func TestRetention(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	s := New(Options{Retention: time.Minute, Now: clock.Now})
	done := walk(t, s, submit(t, s, nil), 10)
	finished := done[len(done)-1]
	abandoned := submit(t, s, nil)

	clock.Advance(59 * time.Second)
	if n := s.QueryCount(); n != 2 {
		t.Fatalf("%d queries before retention, want 2", n)
	}
	if rec := serve(s, http.MethodGet, "/v1/query/"+finished.ID, userHdr, ""); rec.Code != 200 {
		t.Fatalf("finished query within retention: status %d", rec.Code)
	}

	clock.Advance(2 * time.Second)
	if rec := serve(s, http.MethodGet, "/v1/query/"+finished.ID, userHdr, ""); rec.Code != http.StatusGone {
		t.Fatalf("finished query past retention: status %d, want 410", rec.Code)
	}
	if rec := serve(s, http.MethodGet, pathOf(t, abandoned.NextURI), nil, ""); rec.Code != http.StatusNotFound {
		t.Fatalf("abandoned query past retention: status %d, want 404", rec.Code)
	}
	if n := s.QueryCount(); n != 0 {
		t.Fatalf("%d queries past retention, want 0", n)
	}
	// A sweep also runs on submission once per retention period.
	for i := 0; i < 3; i++ {
		walk(t, s, submit(t, s, nil), 10)
	}
	clock.Advance(2 * time.Minute)
	submit(t, s, nil)
	if n := len(s.table.list(clock.Now(), time.Hour)); n != 1 {
		t.Fatalf("%d queries held after the sweep, want 1", n)
	}
}

func TestMaxHistory(t *testing.T) {
	s := New(Options{MaxHistory: 2})
	var ids []string
	for i := 0; i < 5; i++ {
		pages := walk(t, s, submit(t, s, nil), 10)
		ids = append(ids, pages[0].ID)
	}
	if n := s.QueryCount(); n != 2 {
		t.Fatalf("%d queries kept, want 2", n)
	}
	for i, id := range ids {
		want := http.StatusGone
		if i >= 3 {
			want = http.StatusOK
		}
		if rec := serve(s, http.MethodGet, "/v1/query/"+id, userHdr, ""); rec.Code != want {
			t.Errorf("query %d: status %d, want %d", i, rec.Code, want)
		}
	}
}

func TestDelayRespectsCancellation(t *testing.T) {
	s := New(Options{Delay: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequest(http.MethodGet, "/v1/info", nil).WithContext(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.ServeHTTP(httptest.NewRecorder(), req)
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("handler still delaying 5s after the request was cancelled")
	}
}

func TestConcurrentQueries(t *testing.T) {
	srv := httptest.NewServer(New(Options{Pages: 2, RowsPerPage: 3}))
	defer srv.Close()
	errs := make(chan error, 8)
	for w := 0; w < 8; w++ {
		go func() {
			for i := 0; i < 20; i++ {
				if err := runQuery(srv.Client(), srv.URL); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for w := 0; w < 8; w++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

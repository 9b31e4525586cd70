package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// protocol is a fake of Trino's statement protocol: the POST registers
// query q1, then pages[i] answers the GET of .../q1/s/{i}; a page without
// "nextUri" set by the fake ends the query. hang makes the GET of that
// token wait for the client to give up.
type protocol struct {
	pages []map[string]any
	hang  int // token whose GET never answers (0: none)
	fail  int // token whose GET answers 500 (0: none)
}

func (p *protocol) handler(f **fake) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		base := (*f).srv.URL
		next := func(token int) string { return fmt.Sprintf("%s/v1/statement/executing/q1/s/%d", base, token) }
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/v1/statement":
			_ = json.NewEncoder(w).Encode(map[string]any{"id": "q1", "nextUri": next(1), "stats": map[string]any{"state": "QUEUED"}})
		case r.Method == http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/statement/executing/q1/s/"):
			var token int
			_, _ = fmt.Sscan(strings.TrimPrefix(r.URL.Path, "/v1/statement/executing/q1/s/"), &token)
			switch {
			case token == p.hang:
				<-r.Context().Done()
				return
			case token == p.fail:
				http.Error(w, "boom", http.StatusInternalServerError)
				return
			case token > len(p.pages):
				http.Error(w, "gone", http.StatusGone)
				return
			}
			page := map[string]any{"id": "q1"}
			for k, v := range p.pages[token-1] {
				page[k] = v
			}
			if _, ok := page["nextUri"]; !ok && token < len(p.pages) {
				page["nextUri"] = next(token + 1)
			}
			_ = json.NewEncoder(w).Encode(page)
		default:
			http.NotFound(w, r)
		}
	}
}

func startProtocol(t *testing.T, p *protocol) *fake {
	var f *fake
	f = newFake(t, p.handler(&f))
	return f
}

func TestExecute(t *testing.T) {
	p := &protocol{pages: []map[string]any{
		{"stats": map[string]any{"state": "RUNNING"}},
		{"columns": []map[string]any{{"name": "Query Plan", "type": "varchar"}}, "data": [][]any{{"part one "}}},
		{"data": [][]any{{"part two"}, {json.Number("12345678901234567890")}}},
	}}
	f := startProtocol(t, p)
	c := New(Options{User: "sy", Source: "sy-src"})
	res, err := c.Execute(context.Background(), f.srv.URL, "EXPLAIN SELECT 1", Session{User: "alice", Catalog: "tpch", Schema: "sf1"})
	if err != nil {
		t.Fatal(err)
	}
	if res.QueryID != "q1" || len(res.Columns) != 1 || res.Columns[0] != (Column{"Query Plan", "varchar"}) || len(res.Rows) != 3 ||
		res.Rows[0][0] != "part one " || res.Rows[1][0] != "part two" || res.Rows[2][0] != json.Number("12345678901234567890") {
		t.Fatalf("result %+v", res)
	}
	reqs := f.requests()
	if len(reqs) != 4 {
		t.Fatalf("%d requests, want a POST and 3 GETs: %+v", len(reqs), reqs)
	}
	post := reqs[0]
	if post.Method != "POST" || post.Path != "/v1/statement" || post.Body != "EXPLAIN SELECT 1" {
		t.Fatalf("submission %s %s %q", post.Method, post.Path, post.Body)
	}
	// The statement runs as the session's user, not the client's.
	for h, want := range map[string]string{"X-Trino-User": "alice", "X-Trino-Source": "sy-src", "X-Trino-Catalog": "tpch", "X-Trino-Schema": "sf1"} {
		if got := post.Header.Get(h); got != want {
			t.Errorf("POST %s = %q, want %q", h, got, want)
		}
	}
	for i, r := range reqs[1:] {
		if r.Method != "GET" || r.Path != fmt.Sprintf("/v1/statement/executing/q1/s/%d", i+1) || r.Header.Get("X-Trino-User") != "alice" {
			t.Errorf("page %d: %s %s as %q", i+1, r.Method, r.Path, r.Header.Get("X-Trino-User"))
		}
	}
}

func TestExecuteSessionSource(t *testing.T) {
	f := startProtocol(t, &protocol{pages: []map[string]any{{}}})
	if _, err := New(Options{}).Execute(context.Background(), f.srv.URL, "SELECT 1", Session{User: "bob", Source: "switchyard-cost"}); err != nil {
		t.Fatal(err)
	}
	r := f.requests()[0]
	if r.Header.Get("X-Trino-Source") != "switchyard-cost" || r.Header.Get("X-Trino-Catalog") != "" || r.Header.Get("X-Trino-Schema") != "" {
		t.Fatalf("headers %v", r.Header)
	}
}

// A failed query is a *QueryError with Trino's error; nothing to cancel.
func TestExecuteQueryFailed(t *testing.T) {
	f := startProtocol(t, &protocol{pages: []map[string]any{
		{"error": map[string]any{"message": "line 1:15: Table 'tpch.sf1.nope' does not exist", "errorCode": 46, "errorName": "TABLE_NOT_FOUND", "errorType": "USER_ERROR"}},
	}})
	_, err := New(Options{}).Execute(context.Background(), f.srv.URL, "SELECT * FROM nope", Session{User: "alice"})
	var qe *QueryError
	if !errors.As(err, &qe) || qe.ErrorName != "TABLE_NOT_FOUND" || qe.ErrorCode != 46 || qe.QueryID != "q1" {
		t.Fatalf("got %v, want a TABLE_NOT_FOUND QueryError", err)
	}
	wantErr(t, err, "query q1 failed: TABLE_NOT_FOUND: line 1:15: Table 'tpch.sf1.nope' does not exist")
	for _, r := range f.requests() {
		if r.Method == http.MethodDelete {
			t.Fatalf("a failed query was cancelled: %+v", r)
		}
	}
}

// deletes returns the paths the fake saw DELETEd, with the user sent.
func deletes(f *fake) []string {
	var out []string
	for _, r := range f.requests() {
		if r.Method == http.MethodDelete {
			out = append(out, r.Path+" as "+r.Header.Get("X-Trino-User"))
		}
	}
	return out
}

// When the context ends while a page is outstanding, the statement's
// nextUri is DELETEd: the query does not run on unpolled.
func TestExecuteCancelsWhenTheContextEnds(t *testing.T) {
	f := startProtocol(t, &protocol{pages: []map[string]any{{}, {}, {}}, hang: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := New(Options{}).Execute(ctx, f.srv.URL, "SELECT 1", Session{User: "alice"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want a deadline error", err)
	}
	wantErr(t, err, f.srv.URL, "GET /v1/statement/executing/q1/s/2")
	if d := deletes(f); len(d) != 1 || d[0] != "/v1/statement/executing/q1/s/2 as alice" {
		t.Fatalf("DELETEs %v, want one of the outstanding nextUri", d)
	}
}

// A context that ended before the first answer leaves nothing to cancel.
func TestExecuteCancelledBeforeSubmission(t *testing.T) {
	f := startProtocol(t, &protocol{pages: []map[string]any{{}}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := New(Options{}).Execute(ctx, f.srv.URL, "SELECT 1", Session{User: "alice"})
	if !errors.Is(err, context.Canceled) || len(f.requests()) != 0 {
		t.Fatalf("got %v after %d requests", err, len(f.requests()))
	}
}

// A page that fails after the query was registered cancels it too.
func TestExecuteCancelsOnAFailedPage(t *testing.T) {
	tests := []struct {
		name string
		p    *protocol
		err  string
	}{
		{"http error", &protocol{pages: []map[string]any{{}, {}}, fail: 2}, "HTTP 500: boom"},
		{"bad json", &protocol{pages: []map[string]any{{}, {"data": "not rows"}}}, "decoding the answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startProtocol(t, tt.p)
			_, err := New(Options{}).Execute(context.Background(), f.srv.URL, "SELECT 1", Session{User: "alice"})
			wantErr(t, err, f.srv.URL, "GET /v1/statement/executing/q1/s/2", tt.err)
			if d := deletes(f); len(d) != 1 || d[0] != "/v1/statement/executing/q1/s/2 as alice" {
				t.Fatalf("DELETEs %v", d)
			}
		})
	}
}

// The client follows nextUri only on the coordinator it was given.
func TestExecuteStaysOnTheCoordinator(t *testing.T) {
	other := newFake(t, answer(200, `{}`))
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = fmt.Fprintf(w, `{"id":"q1","nextUri":%q}`, other.srv.URL+"/v1/statement/executing/q1/s/1")
	})
	_, err := New(Options{}).Execute(context.Background(), f.srv.URL, "SELECT 1", Session{User: "alice"})
	wantErr(t, err, "leaves the coordinator")
	if n := len(other.requests()); n != 0 {
		t.Fatalf("the other server received %d requests", n)
	}
	// The query the first answer registered is cancelled where it lives.
	reqs := f.requests()
	if len(reqs) != 2 || reqs[1].Method != http.MethodDelete || reqs[1].Path != "/v1/query/q1" {
		t.Fatalf("requests %+v, want the POST then DELETE /v1/query/q1", reqs)
	}
}

func TestExecuteLimits(t *testing.T) {
	t.Run("pages", func(t *testing.T) {
		var f *fake
		f = newFake(t, func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodDelete {
				w.WriteHeader(http.StatusNoContent)
				return
			}
			_, _ = fmt.Fprintf(w, `{"id":"q1","nextUri":%q}`, f.srv.URL+"/v1/statement/executing/q1/s/1")
		})
		_, err := New(Options{}).Execute(context.Background(), f.srv.URL, "SELECT 1", Session{User: "alice"})
		wantErr(t, err, "more than 1000 pages")
		if d := deletes(f); len(d) != 1 {
			t.Fatalf("DELETEs %v, want 1", d)
		}
	})
	t.Run("bytes", func(t *testing.T) {
		row := strings.Repeat("r", 400)
		f := startProtocol(t, &protocol{pages: []map[string]any{{"data": [][]any{{row}}}, {"data": [][]any{{row}}}, {"data": [][]any{{row}}}}})
		_, err := New(Options{MaxResponseBytes: 1000}).Execute(context.Background(), f.srv.URL, "SELECT 1", Session{User: "alice"})
		wantErr(t, err, "the results are larger than 1000 bytes")
		if d := deletes(f); len(d) != 1 {
			t.Fatalf("DELETEs %v, want 1", d)
		}
	})
	t.Run("session", func(t *testing.T) {
		f := startProtocol(t, &protocol{pages: []map[string]any{{}}})
		wantErr(t, func() error {
			_, err := New(Options{}).Execute(context.Background(), f.srv.URL, "SELECT 1", Session{})
			return err
		}(), "session user: must not be empty")
		wantErr(t, func() error {
			_, err := New(Options{}).Execute(context.Background(), f.srv.URL, " ", Session{User: "a"})
			return err
		}(), "the statement is empty")
		if n := len(f.requests()); n != 0 {
			t.Fatalf("%d requests sent", n)
		}
	})
}

func TestSameOrigin(t *testing.T) {
	tests := []struct {
		base, next string
		ok         bool
	}{
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080/v1/statement/queued/q/s/1", true},
		{"https://trino.example.com", "https://trino.example.com:443/v1/statement/queued/q/s/1", true},
		{"http://Trino.Example.com", "http://trino.example.com:80/v1/statement/queued/q/s/1", true},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8081/v1/statement/queued/q/s/1", false},
		{"http://127.0.0.1:8080", "https://127.0.0.1:8080/v1/statement/queued/q/s/1", false},
		{"https://trino.example.com", "https://evil.example.com/v1/statement/queued/q/s/1", false},
		{"http://127.0.0.1:8080", "/v1/statement/queued/q/s/1", false},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080\x7f/v1", false},
	}
	for _, tt := range tests {
		t.Run(tt.next, func(t *testing.T) {
			base, _ := url.Parse(tt.base)
			if err := sameOrigin(base, tt.next); (err == nil) != tt.ok {
				t.Fatalf("sameOrigin(%s, %s) = %v, want ok=%v", tt.base, tt.next, err, tt.ok)
			}
		})
	}
}

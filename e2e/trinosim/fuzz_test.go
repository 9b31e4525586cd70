package trinosim

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// statusWriter records whether and what the handler answered.
type statusWriter struct {
	h      http.Header
	status int
	body   strings.Builder
}

func (w *statusWriter) Header() http.Header { return w.h }
func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}
func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(b)
}

// FuzzPaths throws arbitrary methods, paths and headers at the handler: it
// must never panic, must always answer a status, and its JSON must be valid.
// "{id}" and "{slug}" in the path are replaced by those of a live query so
// the fuzzer reaches the token logic.
func FuzzPaths(f *testing.F) {
	for _, seed := range []struct{ method, path, prefix string }{
		{"GET", "/v1/statement/queued/{id}/{slug}/1", ""},
		{"GET", "/v1/statement/executing/{id}/{slug}/2", "/_sy/a/0"},
		{"DELETE", "/v1/statement/executing/{id}/{slug}/9", ""},
		{"POST", "/v1/statement", "\"\\\x01\xff"},
		{"GET", "/v1/query/{id}", ""},
		{"DELETE", "/v1/query/{id}", ""},
		{"GET", "/v1/info", ""},
		{"GET", "/v1/statement/queued/{id}/{slug}/-1", ""},
		{"GET", "/v1/statement/queued/{id}/{slug}/99999999999999999999", ""},
		{"GET", "/v1/statement/executing//", ""},
		{"PATCH", "/", ""},
	} {
		f.Add(seed.method, seed.path, seed.prefix, true)
	}
	s := New(Options{Pages: 2, QueuedPolls: 2, RowsPerPage: 2})
	live := decodeFuzz(f, s)
	parts := strings.Split(mustPath(live.NextURI), "/")
	id, slug := parts[4], parts[5]
	f.Fuzz(func(t *testing.T, method, path, prefix string, user bool) {
		path = strings.ReplaceAll(strings.ReplaceAll(path, "{id}", id), "{slug}", slug)
		req := &http.Request{
			Method: method,
			URL:    &url.URL{Path: path},
			Host:   "sim",
			Header: http.Header{"X-Forwarded-Prefix": {prefix}, "X-Forwarded-Host": {prefix}},
			Body:   http.NoBody,
		}
		if user {
			req.Header.Set("X-Trino-User", "fuzz")
		}
		w := &statusWriter{h: http.Header{}}
		s.ServeHTTP(w, req)
		if w.status < 100 || w.status > 599 {
			t.Fatalf("%s %q: no status (got %d)", method, path, w.status)
		}
		if w.h.Get("Content-Type") == "application/json" && !json.Valid([]byte(w.body.String())) {
			t.Fatalf("%s %q: invalid JSON %q", method, path, w.body.String())
		}
	})
}

func decodeFuzz(f *testing.F, s *Server) page {
	rec := serve(s, http.MethodPost, "/v1/statement", userHdr, "SELECT 1")
	var p page
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		f.Fatal(err)
	}
	return p
}

package trinosim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// page is a decoded QueryResults.
type page struct {
	ID      string `json:"id"`
	InfoURI string `json:"infoUri"`
	NextURI string `json:"nextUri"`
	Columns []struct {
		Name string `json:"name"`
		Type string `json:"type"`
	} `json:"columns"`
	Data  [][]any `json:"data"`
	Stats struct {
		State     string `json:"state"`
		Queued    bool   `json:"queued"`
		Scheduled bool   `json:"scheduled"`
	} `json:"stats"`
	Error *struct {
		Message   string `json:"message"`
		ErrorCode int    `json:"errorCode"`
		ErrorName string `json:"errorName"`
		ErrorType string `json:"errorType"`
	} `json:"error"`
	Warnings []any `json:"warnings"`
}

// serve runs one request through h in-process.
func serve(h http.Handler, method, target string, hdr map[string]string, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

var userHdr = map[string]string{"X-Trino-User": "alice"}

// submit posts sql and decodes the answer.
func submit(t *testing.T, h http.Handler, hdr map[string]string) page {
	t.Helper()
	if hdr == nil {
		hdr = userHdr
	}
	rec := serve(h, http.MethodPost, "/v1/statement", hdr, "SELECT 1")
	if rec.Code != http.StatusOK {
		t.Fatalf("POST /v1/statement: status %d, body %q", rec.Code, rec.Body.String())
	}
	return decode(t, rec)
}

func decode(t *testing.T, rec *httptest.ResponseRecorder) page {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json", ct)
	}
	var p page
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("decoding %q: %v", rec.Body.String(), err)
	}
	return p
}

// pathOf returns the path of an absolute URI.
func pathOf(t *testing.T, uri string) string {
	t.Helper()
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatalf("parsing %q: %v", uri, err)
	}
	return u.Path
}

// walk follows nextUri from p until it is absent and returns every page,
// the submit answer first. It gives up after limit requests.
func walk(t *testing.T, h http.Handler, p page, limit int) []page {
	t.Helper()
	pages := []page{p}
	for i := 0; p.NextURI != ""; i++ {
		if i >= limit {
			t.Fatalf("query %s still has a nextUri after %d GETs", p.ID, limit)
		}
		rec := serve(h, http.MethodGet, pathOf(t, p.NextURI), nil, "")
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: status %d, body %q", p.NextURI, rec.Code, rec.Body.String())
		}
		p = decode(t, rec)
		pages = append(pages, p)
	}
	return pages
}

// fakeClock is an injectable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

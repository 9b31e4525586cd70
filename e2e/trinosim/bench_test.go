package trinosim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// runQuery runs one query over HTTP and checks that it finishes.
func runQuery(c *http.Client, base string) error {
	req, err := http.NewRequest(http.MethodPost, base+"/v1/statement", strings.NewReader("SELECT 1"))
	if err != nil {
		return err
	}
	req.Header.Set("X-Trino-User", "bench")
	for i := 0; ; i++ {
		if i > 100 {
			return fmt.Errorf("query not finished after %d requests", i)
		}
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s %s: status %d", req.Method, req.URL, resp.StatusCode)
		}
		var p struct {
			NextURI string `json:"nextUri"`
			Stats   struct {
				State string `json:"state"`
			} `json:"stats"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			return err
		}
		if p.NextURI == "" {
			if p.Stats.State != "FINISHED" {
				return fmt.Errorf("final state %s", p.Stats.State)
			}
			return nil
		}
		if req, err = http.NewRequest(http.MethodGet, p.NextURI, nil); err != nil {
			return err
		}
	}
}

// BenchmarkSimulatorQuery runs one full query (POST and every nextUri) per
// iteration over a loopback HTTP connection.
func BenchmarkSimulatorQuery(b *testing.B) {
	srv := httptest.NewServer(New(Options{}))
	defer srv.Close()
	c := srv.Client()
	b.ReportAllocs()
	for b.Loop() {
		if err := runQuery(c, srv.URL); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSimulatorQueryParallel is BenchmarkSimulatorQuery from
// GOMAXPROCS goroutines.
func BenchmarkSimulatorQueryParallel(b *testing.B) {
	srv := httptest.NewServer(New(Options{}))
	defer srv.Close()
	c := srv.Client()
	c.Transport.(*http.Transport).MaxIdleConnsPerHost = 256
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := runQuery(c, srv.URL); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkHandlerPoll measures the handler alone on an executing page.
func BenchmarkHandlerPoll(b *testing.B) {
	s := New(Options{})
	p := submitB(b, s)
	rec := serve(s, http.MethodGet, mustPath(p.NextURI), nil, "")
	var d page
	_ = json.Unmarshal(rec.Body.Bytes(), &d)
	target := mustPath(d.NextURI)
	req := httptest.NewRequest(http.MethodGet, target, nil)
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		s.ServeHTTP(w, req) // re-sends the same token: the same page each time
	}
}

func submitB(b *testing.B, s *Server) page {
	rec := serve(s, http.MethodPost, "/v1/statement", userHdr, "SELECT 1")
	var p page
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		b.Fatal(err)
	}
	return p
}

func mustPath(uri string) string {
	_, rest, _ := strings.Cut(uri, "://")
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		return rest[i:]
	}
	return "/"
}

type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}

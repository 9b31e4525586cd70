package loadgen

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/e2e/trinosim"
)

// BenchmarkClientQuery runs one query (POST and every nextUri) per
// iteration against an in-process simulator, measured like a run does.
func BenchmarkClientQuery(b *testing.B) {
	srv := httptest.NewServer(trinosim.New(trinosim.Options{}))
	defer srv.Close()
	cfg, err := Config{URL: srv.URL, MaxQueries: 1}.normalize()
	if err != nil {
		b.Fatal(err)
	}
	c := newClient(context.Background(), cfg, newRecorder())
	defer c.transport.CloseIdleConnections()
	b.ReportAllocs()
	for b.Loop() {
		if o := c.run(context.Background(), true, time.Now()); o != outcomeCompleted {
			b.Fatalf("outcome %d", o)
		}
	}
}

// BenchmarkDecodePage measures decoding one default-sized data page.
func BenchmarkDecodePage(b *testing.B) {
	srv := httptest.NewServer(trinosim.New(trinosim.Options{}))
	defer srv.Close()
	body := fetchDataPage(b, srv.URL)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeResults(body); err != nil {
			b.Fatal(err)
		}
	}
}

// fetchDataPage returns the body of the first data page of a query.
func fetchDataPage(tb testing.TB, base string) []byte {
	tb.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/statement", strings.NewReader("SELECT 1"))
	req.Header.Set("X-Trino-User", "bench")
	for i := 0; i < 3; i++ {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			tb.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			tb.Fatal(err)
		}
		qr, err := decodeResults(body)
		if err != nil {
			tb.Fatal(err)
		}
		if i == 2 {
			return body
		}
		req, _ = http.NewRequest(http.MethodGet, qr.NextURI, nil)
	}
	return nil
}

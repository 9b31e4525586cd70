package coordinator

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
)

// seen is one request a fake coordinator received.
type seen struct {
	Method, Path, RawQuery string
	Header                 http.Header
	Body                   string
}

// fake is a coordinator whose answers a test scripts, recording every
// request.
type fake struct {
	t   *testing.T
	srv *httptest.Server

	mu     sync.Mutex
	reqs   []seen
	handle http.HandlerFunc
}

func newFake(t *testing.T, h http.HandlerFunc) *fake {
	t.Helper()
	f := &fake{t: t, handle: h}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, seen{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), string(b)})
		f.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(b))
		f.handle(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// requests returns what the fake has received so far.
func (f *fake) requests() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.reqs...)
}

// only returns the single request the fake received.
func (f *fake) only() seen {
	f.t.Helper()
	r := f.requests()
	if len(r) != 1 {
		f.t.Fatalf("the coordinator received %d requests, want 1: %+v", len(r), r)
	}
	return r[0]
}

// answer is a handler that writes status and body.
func answer(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// roundTrip checks that a decoded value re-encodes to a document that
// decodes to the same value (compared by its encoding, so NaN compares
// equal to NaN).
func roundTrip[T any](t *testing.T, v T, parse func([]byte) (T, error)) {
	t.Helper()
	b1, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("re-encoding: %v", err)
	}
	v2, err := parse(b1)
	if err != nil {
		t.Fatalf("the re-encoded document does not decode: %v\n%s", err, b1)
	}
	b2, err := json.Marshal(v2)
	if err != nil {
		t.Fatalf("re-encoding again: %v", err)
	}
	if !bytes.Equal(b1, b2) {
		t.Fatalf("decode/encode is not stable:\n%s\n%s", b1, b2)
	}
}

// wantErr fails unless err is an error containing every part.
func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q\ndoes not contain %q", err, p)
		}
	}
}

package coordinator

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const testQueryID = "20261201_203612_00019_ftfm3"

// method is one Client method called against a fake coordinator.
type method struct {
	name       string
	call       func(ctx context.Context, c *Client, base string) error
	httpMethod string
	path       string
	status     int    // the fake's status on success
	body       string // the fake's body on success
}

func methods(t *testing.T) []method {
	return []method{
		{"Info", func(ctx context.Context, c *Client, base string) error { _, err := c.Info(ctx, base); return err },
			"GET", "/v1/info", 200, string(readTestdata(t, "info.json"))},
		{"Status", func(ctx context.Context, c *Client, base string) error { _, err := c.Status(ctx, base); return err },
			"GET", "/v1/status", 200, string(readTestdata(t, "status.json"))},
		{"Load", func(ctx context.Context, c *Client, base string) error { _, err := c.Load(ctx, base); return err },
			"GET", "/metrics", 200, string(readTestdata(t, "metrics.txt"))},
		{"Queries", func(ctx context.Context, c *Client, base string) error {
			_, err := c.Queries(ctx, base, "")
			return err
		},
			"GET", "/v1/query", 200, string(readTestdata(t, "queries.json"))},
		{"Query", func(ctx context.Context, c *Client, base string) error {
			_, err := c.Query(ctx, base, testQueryID)
			return err
		}, "GET", "/v1/query/" + testQueryID, 200, string(readTestdata(t, "query-running.json"))},
		{"Kill", func(ctx context.Context, c *Client, base string) error {
			return c.Kill(ctx, base, testQueryID, "killed by switchyard: test")
		}, "PUT", "/v1/query/" + testQueryID + "/killed", 202, ""},
		{"Nodes", func(ctx context.Context, c *Client, base string) error { _, err := c.Nodes(ctx, base); return err },
			"GET", "/v1/node", 200, `[]`},
		{"SetNodeState", func(ctx context.Context, c *Client, base string) error {
			return c.SetNodeState(ctx, base, NodeShuttingDown)
		}, "PUT", "/v1/info/state", 200, ""},
	}
}

// Every method sends the configured identity, through the configured
// transport, with the credentials hook applied.
func TestIdentityTransportAndCredentials(t *testing.T) {
	for _, m := range methods(t) {
		t.Run(m.name, func(t *testing.T) {
			f := newFake(t, answer(m.status, m.body))
			var trips atomic.Int32
			c := New(Options{
				User: "sy-control", Source: "sy-tests",
				Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
					trips.Add(1)
					return http.DefaultTransport.RoundTrip(r)
				}),
				Authorize: func(r *http.Request) error { r.Header.Set("Authorization", "Bearer t0ken"); return nil },
			})
			if err := m.call(context.Background(), c, f.srv.URL); err != nil {
				t.Fatal(err)
			}
			r := f.only()
			if r.Method != m.httpMethod || r.Path != m.path {
				t.Errorf("request %s %s, want %s %s", r.Method, r.Path, m.httpMethod, m.path)
			}
			for h, want := range map[string]string{"X-Trino-User": "sy-control", "X-Trino-Source": "sy-tests", "Authorization": "Bearer t0ken"} {
				if got := r.Header.Get(h); got != want {
					t.Errorf("%s = %q, want %q", h, got, want)
				}
			}
			if trips.Load() != 1 {
				t.Errorf("%d requests through the transport, want 1", trips.Load())
			}
		})
	}
}

func TestDefaultIdentity(t *testing.T) {
	f := newFake(t, answer(200, `{"starting":false}`))
	if _, err := New(Options{}).Info(context.Background(), f.srv.URL); err != nil {
		t.Fatal(err)
	}
	r := f.only()
	if r.Header.Get("X-Trino-User") != "switchyard" || r.Header.Get("X-Trino-Source") != "switchyard" {
		t.Fatalf("headers %v, want user and source switchyard", r.Header)
	}
}

// A credentials failure fails the call before anything is sent.
func TestAuthorizeErrorSendsNothing(t *testing.T) {
	for _, m := range methods(t) {
		t.Run(m.name, func(t *testing.T) {
			f := newFake(t, answer(m.status, m.body))
			c := New(Options{Authorize: func(*http.Request) error { return errors.New("no token file") }})
			err := m.call(context.Background(), c, f.srv.URL)
			wantErr(t, err, f.srv.URL, "credentials: no token file")
			if n := len(f.requests()); n != 0 {
				t.Fatalf("%d requests sent", n)
			}
		})
	}
}

// Errors name the coordinator, the endpoint and the status, with a short
// one-line excerpt of the body.
func TestStatusErrors(t *testing.T) {
	long := "Error 503\nService Unavailable: " + strings.Repeat("x", 5000)
	for _, m := range methods(t) {
		t.Run(m.name, func(t *testing.T) {
			f := newFake(t, answer(503, long))
			err := m.call(context.Background(), New(Options{}), f.srv.URL)
			var se *StatusError
			if !errors.As(err, &se) || se.Status != 503 {
				t.Fatalf("got %v, want a *StatusError with 503", err)
			}
			wantErr(t, err, f.srv.URL, m.httpMethod+" ", "HTTP 503", "Error 503 Service Unavailable: xxx", "...")
			if len(se.Body) > maxExcerpt+3 || strings.Contains(err.Error(), "\n") {
				t.Fatalf("excerpt not bounded to one line of %d bytes: %q", maxExcerpt, se.Body)
			}
		})
	}
}

// Every answer is size-limited; /v1/info to 64 KiB whatever the option.
func TestResponseSizeLimit(t *testing.T) {
	for _, m := range methods(t) {
		if m.body == "" || m.body == "[]" {
			continue // methods that read no body
		}
		t.Run(m.name, func(t *testing.T) {
			f := newFake(t, answer(200, m.body))
			limit := int64(len(m.body) - 1)
			err := m.call(context.Background(), New(Options{MaxResponseBytes: limit}), f.srv.URL)
			wantErr(t, err, f.srv.URL, "larger than")
			if err := m.call(context.Background(), New(Options{MaxResponseBytes: int64(len(m.body))}), f.srv.URL); err != nil {
				t.Fatalf("an answer of exactly the limit: %v", err)
			}
		})
	}
	t.Run("info", func(t *testing.T) {
		f := newFake(t, answer(200, `{"starting":false,"environment":"`+strings.Repeat("e", 70<<10)+`"}`))
		_, err := New(Options{}).Info(context.Background(), f.srv.URL)
		wantErr(t, err, "GET /v1/info", "larger than 65536 bytes")
	})
}

// Wrong types are decoding errors that name the endpoint.
func TestBadJSON(t *testing.T) {
	tests := []struct {
		name string
		call func(c *Client, base string) error
		body string
	}{
		{"info", func(c *Client, b string) error { _, err := c.Info(context.Background(), b); return err }, `{"starting":"no"}`},
		{"status", func(c *Client, b string) error { _, err := c.Status(context.Background(), b); return err }, `{"heapUsed":"lots"}`},
		{"queries", func(c *Client, b string) error { _, err := c.Queries(context.Background(), b, ""); return err }, `{"queryId":"x"}`},
		{"query", func(c *Client, b string) error { _, err := c.Query(context.Background(), b, testQueryID); return err }, `{"outputStage":[]}`},
		{"nodes", func(c *Client, b string) error { _, err := c.Nodes(context.Background(), b); return err }, `[{"uri":7}]`},
		{"truncated", func(c *Client, b string) error { _, err := c.Queries(context.Background(), b, ""); return err }, `[{"queryId":`},
		{"html", func(c *Client, b string) error { _, err := c.Info(context.Background(), b); return err }, `<html>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, answer(200, tt.body))
			wantErr(t, tt.call(New(Options{}), f.srv.URL), f.srv.URL, "decoding the answer")
		})
	}
}

// The per-call timeout ends a coordinator that does not answer, with a
// deadline error.
func TestTimeout(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	_, err := New(Options{Timeout: 20 * time.Millisecond}).Info(context.Background(), f.srv.URL)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want a deadline error", err)
	}
	wantErr(t, err, f.srv.URL, "GET /v1/info")
}

// Redirects are not followed: the identity and credentials stay with the
// coordinator they were meant for.
func TestNoRedirects(t *testing.T) {
	elsewhere := newFake(t, answer(200, `{"starting":false}`))
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.srv.URL+"/v1/info", http.StatusFound)
	})
	_, err := New(Options{}).Info(context.Background(), f.srv.URL)
	var se *StatusError
	if !errors.As(err, &se) || se.Status != http.StatusFound {
		t.Fatalf("got %v, want the 302 as an error", err)
	}
	if n := len(elsewhere.requests()); n != 0 {
		t.Fatalf("the redirect was followed (%d requests)", n)
	}
}

func TestUnreachable(t *testing.T) {
	f := newFake(t, answer(200, ""))
	base := f.srv.URL
	f.srv.Close()
	_, err := New(Options{}).Queries(context.Background(), base, "")
	wantErr(t, err, "coordinator "+base+": GET /v1/query: ", "connect")
	if strings.Contains(err.Error(), `Get "`) {
		t.Fatalf("the message repeats the URL: %v", err)
	}
}

func TestValidIdentity(t *testing.T) {
	for _, tt := range []struct {
		in, err string
	}{
		{"switchyard", ""},
		{"alice@example.com", ""},
		{"élodie", ""},
		{"", "must not be empty"},
		{"two words", "spaces or control characters"},
		{"tab\there", "spaces or control characters"},
		{"nl\n", "spaces or control characters"},
		{strings.Repeat("u", 257), "at most 256 bytes"},
		{"\xff", "valid UTF-8"},
	} {
		t.Run(tt.in, func(t *testing.T) {
			err := ValidIdentity(tt.in)
			if tt.err == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			wantErr(t, err, tt.err)
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

package extrouter

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/switchyard-gw/switchyard/e2e/harness"
	routerv1 "github.com/switchyard-gw/switchyard/proto/switchyard/router/v1"
)

var req = &Request{User: "alice", Source: "dbt", Catalog: "hive", SQL: "SELECT * FROM hive.sales.orders", QueryType: "SELECT",
	Tables: []string{"hive.sales.orders", "hive.web.clicks"}, Headers: map[string]string{"x-trino-user": "alice", "x-trino-source": "dbt"}}

// The HTTP variant sends Trino Gateway's body and reads its answer.
func TestHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		qp := body["trinoQueryProperties"].(map[string]any)
		if qp["body"] != req.SQL || qp["queryType"] != "SELECT" || body["remoteUser"] != "alice" ||
			len(qp["catalogSchemas"].([]any)) != 2 || r.Header.Get("X-Trino-Source") != "dbt" {
			http.Error(w, "unexpected request", 400)
			return
		}
		_, _ = w.Write([]byte(`{"routingGroup":"etl","errors":[],"externalHeaders":{"X-Trino-Client-Tags":"routed"}}`))
	}))
	defer srv.Close()
	c, err := New(srv.URL+"/route", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Route(context.Background(), req)
	if err != nil || r.RoutingGroup != "etl" || r.Headers["X-Trino-Client-Tags"] != "routed" {
		t.Fatalf("%+v %v", r, err)
	}
}

// isTimeout reports whether err is a deadline error.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// hangingServer answers nothing until the request ends; it counts the
// requests it saw end by cancellation (the client giving up).
func hangingServer(t *testing.T) (*httptest.Server, *atomic.Int64, *atomic.Int64) {
	t.Helper()
	var seen, cancelled atomic.Int64
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Add(1)
		// net/http notices a client that hangs up only once the body is read.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
			cancelled.Add(1)
		case <-release:
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	return srv, &seen, &cancelled
}

// waitFor polls cond until it holds or 10s passed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	err := harness.Poll(context.Background(), what, 10*time.Second, time.Millisecond, func() error {
		if !cond() {
			return errors.New("not yet")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The HTTP call is bounded by the timeout: a service that never answers
// gives a deadline error, and the service sees the call cancelled.
func TestHTTPTimeout(t *testing.T) {
	srv, seen, cancelled := hangingServer(t)
	c, err := New(srv.URL, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Route(context.Background(), req)
	if !isTimeout(err) || r != nil {
		t.Fatalf("got %+v, %v; want a deadline error", r, err)
	}
	if !strings.Contains(err.Error(), "external router") {
		t.Errorf("error %q does not name the external router", err)
	}
	// Every call that reached the service was cancelled (none is left
	// hanging); usually the one call did reach it.
	waitFor(t, "the service sees the call cancelled", func() bool { return cancelled.Load() == seen.Load() })

	// The caller's cancellation ends the call too.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Route(ctx, req); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: got %v, want context.Canceled", err)
	}
}

// answerTransport answers every request with a fixed status and body,
// without a network.
type answerTransport struct {
	status int
	body   []byte
}

func (a answerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_ = r.Body.Close()
	}
	return &http.Response{StatusCode: a.status, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(string(a.body))), ContentLength: int64(len(a.body)), Request: r}, nil
}

// httpAnswer asks an HTTP client whose service answers status and body.
func httpAnswer(status int, body []byte) (*Response, error) {
	c := newHTTP("http://router.test/route", time.Second)
	c.c.Transport = answerTransport{status, body}
	return c.Route(context.Background(), req)
}

func TestHTTPAnswers(t *testing.T) {
	const ok = `{"routingGroup":"etl","errors":[],"externalHeaders":{"X-Trino-Client-Tags":"a\tb"}}`
	tests := []struct {
		name    string
		status  int
		body    string
		group   string // when the answer is accepted
		wantErr string // else the error contains this
	}{
		{"ok", 200, ok, "etl", ""},
		{"errors reported", 200, `{"routingGroup":"","errors":["no rule matched"]}`, "", ""},
		{"padded to the limit", 200, ok + strings.Repeat(" ", MaxAnswerBytes-len(ok)), "etl", ""},
		{"over the limit", 200, ok + strings.Repeat(" ", MaxAnswerBytes-len(ok)+1), "", "exceeds 1048576 bytes"},
		{"status", 500, "nope", "", "answered HTTP 500: nope"},
		{"huge error page", 503, strings.Repeat("x", 2*MaxAnswerBytes), "", "answered HTTP 503: xxx"},
		{"not JSON", 200, "<html>", "", "external router answer: invalid character"},
		{"trailing data", 200, ok + "{}", "", "external router answer: invalid character"},
		{"truncated", 200, ok[:20], "", "external router answer: unexpected end of JSON input"},
		{"group not a string", 200, `{"routingGroup":5}`, "", "cannot unmarshal number"},
		{"header value not a string", 200, `{"externalHeaders":{"X-A":1}}`, "", "cannot unmarshal number"},
		{"header name with a space", 200, `{"externalHeaders":{"X A":"1"}}`, "", `header name "X A" is not a valid HTTP header name`},
		{"empty header name", 200, `{"externalHeaders":{"":"1"}}`, "", `header name "" is not a valid`},
		{"header value with a newline", 200, `{"externalHeaders":{"X-A":"1\r\nX-Trino-User: admin"}}`, "", `header "X-A" has a value with control characters`},
		{"header value with NUL", 200, `{"externalHeaders":{"X-A":"\u0000"}}`, "", "control characters"},
		{"long bad header name is cut", 200, `{"externalHeaders":{"` + strings.Repeat("é", 1000) + `":"1"}}`, "", `header name "ééé`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := httpAnswer(tt.status, []byte(tt.body))
			if tt.wantErr == "" {
				if err != nil || r.RoutingGroup != tt.group {
					t.Fatalf("got %+v, %v; want group %q", r, err, tt.group)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || r != nil {
				t.Fatalf("got %+v, %v; want an error containing %q", r, err, tt.wantErr)
			}
			if len(err.Error()) > 512 {
				t.Errorf("error of %d bytes, want a short one", len(err.Error()))
			}
		})
	}
}

type fakeRouter struct {
	routerv1.UnimplementedRouterServiceServer
	// answer, when set, is the answer to every call.
	answer *routerv1.RouteResponse
	// hang makes every call wait for its deadline; seen and cancelled
	// count the calls that arrived and those that saw their deadline.
	hang            bool
	seen, cancelled atomic.Int64
}

func (f *fakeRouter) Route(ctx context.Context, r *routerv1.RouteRequest) (*routerv1.RouteResponse, error) {
	switch {
	case f.hang:
		f.seen.Add(1)
		<-ctx.Done()
		f.cancelled.Add(1)
		return nil, ctx.Err()
	case f.answer != nil:
		return f.answer, nil
	case r.GetUser() != "alice" || len(r.GetTables()) != 2:
		return &routerv1.RouteResponse{Errors: []string{"unexpected request"}}, nil
	}
	return &routerv1.RouteResponse{RoutingGroup: "adhoc", ExternalHeaders: map[string]string{"x-a": "b"}}, nil
}

// grpcRouter serves f on a local port and returns a client for it.
func grpcRouter(t *testing.T, f *fakeRouter, timeout time.Duration) Client {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	routerv1.RegisterRouterServiceServer(g, f)
	go func() { _ = g.Serve(l) }()
	t.Cleanup(g.Stop)
	c, err := New("grpc://"+l.Addr().String(), timeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestGRPC(t *testing.T) {
	c := grpcRouter(t, &fakeRouter{}, time.Second)
	r, err := c.Route(context.Background(), req)
	if err != nil || r.RoutingGroup != "adhoc" || r.Headers["x-a"] != "b" || len(r.Errors) != 0 {
		t.Fatalf("%+v %v", r, err)
	}
}

// The gRPC call is bounded by the timeout, which the service sees as its
// deadline.
func TestGRPCTimeout(t *testing.T) {
	f := &fakeRouter{hang: true}
	c := grpcRouter(t, f, 20*time.Millisecond)
	r, err := c.Route(context.Background(), req)
	if status.Code(err) != codes.DeadlineExceeded || r != nil {
		t.Fatalf("got %+v, %v; want DeadlineExceeded", r, err)
	}
	// Every call that reached the service saw the deadline (none is left
	// hanging); usually the one call did reach it.
	waitFor(t, "the service sees the deadline", func() bool { return f.cancelled.Load() == f.seen.Load() })
}

func TestGRPCAnswers(t *testing.T) {
	tests := []struct {
		name    string
		answer  *routerv1.RouteResponse
		wantErr string
		code    codes.Code
	}{
		{"over the limit", &routerv1.RouteResponse{RoutingGroup: strings.Repeat("g", MaxAnswerBytes)}, "", codes.ResourceExhausted},
		{"bad header name", &routerv1.RouteResponse{ExternalHeaders: map[string]string{"x:a": "b"}}, `header name "x:a" is not a valid HTTP header name`, codes.Unknown},
		{"bad header value", &routerv1.RouteResponse{ExternalHeaders: map[string]string{"x-a": "b\n"}}, `header "x-a" has a value with control characters`, codes.Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := grpcRouter(t, &fakeRouter{answer: tt.answer}, 5*time.Second)
			r, err := c.Route(context.Background(), req)
			if err == nil || r != nil || !strings.Contains(err.Error(), tt.wantErr) || status.Code(err) != tt.code {
				t.Fatalf("got %+v, %v; want an error with code %v containing %q", r, err, tt.code, tt.wantErr)
			}
		})
	}
}

func TestBadURLs(t *testing.T) {
	for _, u := range []string{"", "ftp://x", "grpc://", "nohost"} {
		if _, err := New(u, time.Second); err == nil || !strings.Contains(err.Error(), "external router URL") {
			t.Errorf("%q: %v", u, err)
		}
	}
}

package extrouter

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

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

func TestHTTPFailures(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
		}
	}))
	defer slow.Close()
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "nope", 500) }))
	defer bad.Close()
	for name, url := range map[string]string{"timeout": slow.URL, "status": bad.URL} {
		c, _ := New(url, 100*time.Millisecond)
		start := time.Now()
		if _, err := c.Route(context.Background(), req); err == nil {
			t.Errorf("%s: no error", name)
		}
		if time.Since(start) > time.Second {
			t.Errorf("%s: took %v", name, time.Since(start))
		}
	}
}

type fakeRouter struct {
	routerv1.UnimplementedRouterServiceServer
}

func (fakeRouter) Route(_ context.Context, r *routerv1.RouteRequest) (*routerv1.RouteResponse, error) {
	if r.GetUser() != "alice" || len(r.GetTables()) != 2 {
		return &routerv1.RouteResponse{Errors: []string{"unexpected request"}}, nil
	}
	return &routerv1.RouteResponse{RoutingGroup: "adhoc", ExternalHeaders: map[string]string{"x-a": "b"}}, nil
}

func TestGRPC(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	routerv1.RegisterRouterServiceServer(g, fakeRouter{})
	go func() { _ = g.Serve(l) }()
	defer g.Stop()
	c, err := New("grpc://"+l.Addr().String(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, err := c.Route(context.Background(), req)
	if err != nil || r.RoutingGroup != "adhoc" || r.Headers["x-a"] != "b" || len(r.Errors) != 0 {
		t.Fatalf("%+v %v", r, err)
	}
}

func TestBadURLs(t *testing.T) {
	for _, u := range []string{"", "ftp://x", "grpc://", "nohost"} {
		if _, err := New(u, time.Second); err == nil || !strings.Contains(err.Error(), "external router URL") {
			t.Errorf("%q: %v", u, err)
		}
	}
}

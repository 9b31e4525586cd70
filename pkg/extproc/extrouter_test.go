package extproc

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/switchyard-gw/switchyard/pkg/admission"
	"github.com/switchyard-gw/switchyard/pkg/extrouter"
	"github.com/switchyard-gw/switchyard/pkg/xds"
)

type fakeRouter struct {
	resp *extrouter.Response
	err  error
	got  *extrouter.Request
}

func (f *fakeRouter) Route(_ context.Context, r *extrouter.Request) (*extrouter.Response, error) {
	f.got = r
	return f.resp, f.err
}
func (f *fakeRouter) Close() error { return nil }

func TestExternalRouterWithoutPolicy(t *testing.T) {
	fr := &fakeRouter{resp: &extrouter.Response{RoutingGroup: "etl", Headers: map[string]string{"X-Trino-Client-Tags": "ext"}}}
	h := newHarness(nil, func(o *admission.Options) { o.ExtRouter = fr })
	// etl's only cluster is down: the error proves the service's group was used.
	rs := submit(t, h.open(t), []string{"x-trino-catalog", "tpch", "x-trino-schema", "tiny"}, "SELECT * FROM nation")
	rj := rejected(t, rs[0])
	if !strings.Contains(rj.doc.Error.Message, "no cluster available in group etl") {
		t.Fatalf("%+v", rj.doc.Error)
	}
	if fr.got.SQL != "SELECT * FROM nation" || fr.got.QueryType != "SELECT" || fr.got.Tables[0] != "tpch.tiny.nation" || fr.got.Headers["x-trino-catalog"] != "tpch" {
		t.Fatalf("request %+v", fr.got)
	}
	fr.resp = &extrouter.Response{RoutingGroup: "adhoc", Headers: map[string]string{"X-Trino-Client-Tags": "ext"}}
	rs = submit(t, h.open(t), nil, "SELECT 1")
	got := map[string]string{}
	for _, hv := range rs[0].GetRequestHeaders().GetResponse().GetHeaderMutation().GetSetHeaders() {
		got[hv.GetHeader().GetKey()] = string(hv.GetHeader().GetRawValue())
	}
	if got["x-trino-client-tags"] != "ext" || got[xds.RouteHeader] == "" {
		t.Fatalf("headers %v", got)
	}
}

func TestExternalRouterFailure(t *testing.T) {
	fr := &fakeRouter{err: errors.New("deadline exceeded")}
	h := newHarness(nil, func(o *admission.Options) { o.ExtRouter = fr })
	// Fallback: routed without the service.
	rs := submit(t, h.open(t), nil, "SELECT 1")
	if c, _ := routeHeader(rs[0]); c != "a" && c != "b" {
		t.Fatalf("route %q", c)
	}
	// Fail closed when configured.
	h = newHarness(nil, func(o *admission.Options) { o.ExtRouter, o.ExtRouterFailClosed = fr, true })
	rj := rejected(t, submit(t, h.open(t), nil, "SELECT 1")[0])
	if rj.doc.Error.ErrorName != "GATEWAY_UNAVAILABLE" || !strings.Contains(rj.doc.Error.Message, "deadline exceeded") {
		t.Fatalf("%+v", rj.doc.Error)
	}
}

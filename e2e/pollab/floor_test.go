package pollab

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/switchyard-gw/switchyard/pkg/xds"
)

// TestFloorProcessorAnswersAsTheControlPlane: a submission's stream gets
// the headers answered (route header, route cache cleared) once the body
// has ended, then one continue per body chunk; the floor check allows
// with the route header.
func TestFloorProcessorAnswersAsTheControlPlane(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addr, err := startFloor(ctx)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stream, err := extprocv3.NewExternalProcessorClient(conn).Process(ctx)
	if err != nil {
		t.Fatal(err)
	}
	send := func(r *extprocv3.ProcessingRequest) {
		t.Helper()
		if err := stream.Send(r); err != nil {
			t.Fatal(err)
		}
	}
	send(&extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestHeaders{RequestHeaders: &extprocv3.HttpHeaders{}}})
	send(&extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestBody{RequestBody: &extprocv3.HttpBody{Body: []byte("SELECT 1")}}})
	send(&extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestBody{RequestBody: &extprocv3.HttpBody{EndOfStream: true}}})
	first, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	common := first.GetRequestHeaders().GetResponse()
	if !common.GetClearRouteCache() || len(common.GetHeaderMutation().GetSetHeaders()) != 1 {
		t.Fatalf("first answer %v: want the headers answered with the route", first)
	}
	if h := common.GetHeaderMutation().GetSetHeaders()[0].GetHeader(); h.GetKey() != xds.RouteHeader || string(h.GetRawValue()) != floorRoute {
		t.Errorf("route header %v", h)
	}
	for i := range 2 {
		r, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if r.GetRequestBody() == nil {
			t.Errorf("answer %d: %v, want a body continue", i+2, r)
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if r, err := stream.Recv(); err == nil {
		t.Errorf("a fourth answer: %v", r)
	}
	ok, err := authv3.NewAuthorizationClient(conn).Check(ctx, &authv3.CheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if ok.GetStatus().GetCode() != 0 || ok.GetOkResponse() == nil {
		t.Fatalf("check %v: want allowed", ok)
	}
	hs := ok.GetOkResponse().GetHeaders()
	if len(hs) != 1 || hs[0].GetHeader().GetKey() != xds.RouteHeader || hs[0].GetHeader().GetValue() != floorRoute {
		t.Errorf("check headers %v", hs)
	}
}

// TestFloorVariants: floor-authz has one ext_authz filter of its own just
// before the router, on the submit route only, and no ext_proc; the
// floor's address replaces the ext_proc cluster's endpoint.
func TestFloorVariants(t *testing.T) {
	cfg := loadFixture(t)
	v, _ := variantByName("floor-authz")
	if !v.Floor {
		t.Error("floor-authz does not use the floor")
	}
	if err := v.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	h, _ := hcmOf(cfg)
	fs := list(h["http_filters"])
	if n := len(fs); n < 2 || fs[n-2]["name"] != floorAuthzName {
		t.Errorf("filters %v: want %s before the router", fs, floorAuthzName)
	}
	b, _ := json.Marshal(cfg)
	if s := string(b); strings.Contains(s, filterExt) || strings.Contains(s, observer) {
		t.Error("floor-authz kept ext_proc")
	}
	vh, _ := virtualHostOf(cfg)
	for _, r := range list(vh["routes"]) {
		pf := r["typed_per_filter_config"].(map[string]any)[floorAuthzName].(map[string]any)
		if off := pf["disabled"] == true; off == (r["name"] == "submit") {
			t.Errorf("route %v: %s disabled=%v", r["name"], floorAuthzName, off)
		}
	}
	if err := pointExtProcAt(cfg, "127.0.0.1:4321"); err != nil {
		t.Fatal(err)
	}
	c := clusterByName(cfg, xds.ExtProcCluster)
	b, _ = json.Marshal(c["load_assignment"])
	if c["type"] != "STATIC" || !strings.Contains(string(b), `"port_value":4321`) {
		t.Errorf("ext_proc cluster %v", c)
	}
	if err := pointExtProcAt(cfg, "10.0.0.1:4321"); err == nil {
		t.Error("a floor off loopback: want an error")
	}
}

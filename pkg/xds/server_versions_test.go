package xds

import (
	"context"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/durationpb"
)

// A change of one type gives a new version to that type only: the others
// are not sent again.
func TestTypeVersionsChangeWithTheirContent(t *testing.T) {
	ctx := context.Background()
	s := NewServer(slog.New(slog.DiscardHandler), Metrics{})
	res := translateFile(t, "testdata/in/basic.yaml")
	v1, err := s.Update(ctx, res)
	if err != nil {
		t.Fatal(err)
	}
	before := map[string]string{}
	for _, typ := range ResourceTypes {
		before[typ] = s.TypeVersion(typ)
	}
	res = translateFile(t, "testdata/in/basic.yaml")
	res.Clusters[0].ConnectTimeout = durationpb.New(7 * time.Second)
	v2, err := s.Update(ctx, res)
	if err != nil || v2 == v1 {
		t.Fatalf("update: %s (was %s), %v", v2, v1, err)
	}
	for _, typ := range ResourceTypes {
		changed := s.TypeVersion(typ) != before[typ]
		if changed != (typ == resource.ClusterType) {
			t.Errorf("%s: version %s, was %s", typ, s.TypeVersion(typ), before[typ])
		}
	}
}

// An incremental (delta) stream: the first answer holds every listener;
// after an ACK the Envoy is current; a change of the clusters alone sends
// only the changed cluster, and the Envoy is current again once it
// acknowledges it; a NACK keeps the version it ran.
func TestDeltaStreamSendsChangesAndTracksACKs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var nacks atomic.Int32
	s := NewServer(slog.New(slog.DiscardHandler), Metrics{Nacks: func(string) { nacks.Add(1) }})
	if _, err := s.Update(ctx, translateFile(t, "testdata/in/basic.yaml")); err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	s.Register(ctx, g)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.Serve(l) }()
	defer g.Stop()
	conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	recv := func() *discoveryv3.DeltaDiscoveryResponse {
		t.Helper()
		r, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	send := func(r *discoveryv3.DeltaDiscoveryRequest) {
		t.Helper()
		if err := stream.Send(r); err != nil {
			t.Fatal(err)
		}
	}
	current := func(what string, want bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			list, _, _ := s.Envoys()
			if len(list) == 1 && list[0].Current == want && list[0].Node == "envoy-d" {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: envoys %+v", what, list)
			}
			time.Sleep(5 * time.Millisecond) // polling with a deadline
		}
	}
	send(&discoveryv3.DeltaDiscoveryRequest{Node: &corev3.Node{Id: "envoy-d"}, TypeUrl: resource.ClusterType})
	r := recv()
	res := translateFile(t, "testdata/in/basic.yaml")
	if len(r.GetResources()) != len(res.Clusters) || r.GetSystemVersionInfo() != s.TypeVersion(resource.ClusterType) {
		t.Fatalf("first answer: %d clusters, version %s", len(r.GetResources()), r.GetSystemVersionInfo())
	}
	current("subscribed, nothing applied", false)
	send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resource.ClusterType, ResponseNonce: r.GetNonce()})
	current("acknowledged", true)

	res.Clusters[0].ConnectTimeout = durationpb.New(7 * time.Second)
	if _, err := s.Update(ctx, res); err != nil {
		t.Fatal(err)
	}
	current("a new snapshot", false)
	r = recv()
	if len(r.GetResources()) != 1 || r.GetResources()[0].GetName() != res.Clusters[0].Name {
		t.Fatalf("the change sent %d resources", len(r.GetResources()))
	}
	send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resource.ClusterType, ResponseNonce: r.GetNonce()})
	current("acknowledged the change", true)

	// A NACK of the next change: the Envoy keeps the version it ran.
	ran := s.TypeVersion(resource.ClusterType)
	res.Clusters[0].ConnectTimeout = durationpb.New(8 * time.Second)
	if _, err := s.Update(ctx, res); err != nil {
		t.Fatal(err)
	}
	r = recv()
	send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resource.ClusterType, ResponseNonce: r.GetNonce(),
		ErrorDetail: &rpcstatus.Status{Code: int32(codes.InvalidArgument), Message: "rejected by the test"}})
	deadline := time.Now().Add(5 * time.Second)
	for nacks.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // polling with a deadline
	}
	list, _, _ := s.Envoys()
	if nacks.Load() != 1 || len(list) != 1 || list[0].Current || list[0].Applied["Cluster"] != ran {
		t.Fatalf("after a NACK (%d counted): %+v, want it to run %s", nacks.Load(), list, ran)
	}
}

package xds

import (
	"context"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/google/go-cmp/cmp"

	"github.com/switchyard-gw/switchyard/pkg/config"
	"github.com/switchyard-gw/switchyard/pkg/fleet"
)

func translateFile(t *testing.T, path string) *Resources {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Translate(fleet.FromConfig(cfg), optionsFor(cfg))
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// Two Envoys (different node IDs) on one ADS server receive the same
// listener, equal to what the translator produced.
func TestServerServesEveryNodeTheSameSnapshot(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var nacks int
	s := NewServer(slog.New(slog.DiscardHandler), Metrics{Nacks: func(string) { nacks++ }})
	res := translateFile(t, "testdata/in/basic.yaml")
	v, err := s.Update(ctx, res)
	if err != nil {
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

	for _, node := range []string{"envoy-a", "envoy-b"} {
		conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: node}, TypeUrl: resource.ListenerType}); err != nil {
			t.Fatal(err)
		}
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetVersionInfo() != v {
			t.Errorf("%s got version %q, want %q", node, resp.GetVersionInfo(), v)
		}
		if len(resp.GetResources()) != 1 {
			t.Fatalf("%s got %d listeners", node, len(resp.GetResources()))
		}
		var got listenerv3.Listener
		if err := resp.GetResources()[0].UnmarshalTo(&got); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(res.Listeners[0], &got, protocmp.Transform()); diff != "" {
			t.Errorf("%s listener differs from the translation (-want +got):\n%s", node, diff)
		}
	}
	if nacks != 0 {
		t.Errorf("%d NACKs", nacks)
	}
}

// The version is a function of the content: equal fleets give equal
// versions (across replicas and restarts), different fleets differ.
func TestContentVersion(t *testing.T) {
	a1, _ := contentVersion(translateFile(t, "testdata/in/basic.yaml"))
	a2, _ := contentVersion(translateFile(t, "testdata/in/basic.yaml"))
	b, _ := contentVersion(translateFile(t, "testdata/in/standby.yaml"))
	if a1 != a2 || a1 == b || len(a1) != 16 {
		t.Fatalf("versions %q %q %q", a1, a2, b)
	}
}

// envoy/bootstrap.yaml is what `switchyard bootstrap` prints by default.
func TestCommittedBootstrapIsGenerated(t *testing.T) {
	want, err := Bootstrap(BootstrapOptions{NodeID: "envoy-1", XDSAddresses: []string{"127.0.0.1:18000"}, AdminAddress: "127.0.0.1:9901"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../envoy/bootstrap.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatal("envoy/bootstrap.yaml is stale: regenerate it with `go run ./cmd/switchyard bootstrap > envoy/bootstrap.yaml`")
	}
}

func TestBootstrapErrors(t *testing.T) {
	for _, o := range []BootstrapOptions{
		{XDSAddresses: []string{"127.0.0.1:1"}, AdminAddress: "127.0.0.1:2"},
		{NodeID: "n", AdminAddress: "127.0.0.1:2"},
		{NodeID: "n", XDSAddresses: []string{"nope"}, AdminAddress: "127.0.0.1:2"},
		{NodeID: "n", XDSAddresses: []string{"127.0.0.1:1"}, AdminAddress: "x"},
	} {
		if _, err := Bootstrap(o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

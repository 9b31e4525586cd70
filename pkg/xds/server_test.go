package xds

import (
	"context"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"gopkg.in/yaml.v3"

	"github.com/switchyard-gw/switchyard/pkg/config"
	"github.com/switchyard-gw/switchyard/pkg/fleet"
)

func translateFile(t *testing.T, path string) *Resources {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Translate(fleet.FromConfig(cfg), optionsFor(t, cfg))
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// Two Envoys (different node IDs) on one ADS server receive the same
// listener, equal to what the translator produced. The first accepts it
// (ACK), the second rejects it (NACK): only the NACK reaches the Nacks
// metric, once, with the listener type.
func TestServerServesEveryNodeTheSameSnapshot(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var mu sync.Mutex
	var nacks []string
	nacked := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), nacks...)
	}
	s := NewServer(slog.New(slog.DiscardHandler), Metrics{Nacks: func(typeURL string) {
		mu.Lock()
		defer mu.Unlock()
		nacks = append(nacks, typeURL)
	}})
	res := translateFile(t, "testdata/in/basic.yaml")
	if _, err := s.Update(ctx, res); err != nil {
		t.Fatal(err)
	}
	v := s.TypeVersion(resource.ListenerType)
	g := grpc.NewServer()
	s.Register(ctx, g)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.Serve(l) }()
	defer g.Stop()

	for _, tc := range []struct {
		node      string
		reject    bool
		wantNacks []string // after this node's answer
	}{
		{node: "envoy-a", wantNacks: nil},
		{node: "envoy-b", reject: true, wantNacks: []string{resource.ListenerType}},
	} {
		conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: tc.node}, TypeUrl: resource.ListenerType}); err != nil {
			t.Fatal(err)
		}
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetVersionInfo() != v {
			t.Errorf("%s got version %q, want %q", tc.node, resp.GetVersionInfo(), v)
		}
		if len(resp.GetResources()) != 1 {
			t.Fatalf("%s got %d listeners", tc.node, len(resp.GetResources()))
		}
		var got listenerv3.Listener
		if err := resp.GetResources()[0].UnmarshalTo(&got); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(res.Listeners[0], &got, protocmp.Transform()); diff != "" {
			t.Errorf("%s listener differs from the translation (-want +got):\n%s", tc.node, diff)
		}

		// The answer to the listener: an ACK, or a NACK as Envoy sends it
		// (the version and nonce of the response, and the error).
		answer := &discoveryv3.DiscoveryRequest{TypeUrl: resource.ListenerType, VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce()}
		if tc.reject {
			answer.ErrorDetail = &rpcstatus.Status{Code: int32(codes.InvalidArgument), Message: "listener switchyard_http: rejected by the test"}
		}
		if err := stream.Send(answer); err != nil {
			t.Fatal(err)
		}
		// The server handles a stream's requests in order: once it answers
		// a cluster subscription sent after the ACK or NACK, it has seen
		// that answer too.
		if err := stream.Send(&discoveryv3.DiscoveryRequest{TypeUrl: resource.ClusterType}); err != nil {
			t.Fatal(err)
		}
		cl, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if cl.GetTypeUrl() != resource.ClusterType || len(cl.GetResources()) != len(res.Clusters) {
			t.Fatalf("%s: after its answer got %d resources of %s, want the %d clusters", tc.node, len(cl.GetResources()), cl.GetTypeUrl(), len(res.Clusters))
		}
		if got := nacked(); !cmp.Equal(got, tc.wantNacks, cmpopts.EquateEmpty()) {
			t.Errorf("after %s's answer (reject=%v) the Nacks metric got %q, want %q", tc.node, tc.reject, got, tc.wantNacks)
		}
	}
}

// The version is a function of the content: equal fleets give equal
// versions (across replicas and restarts), different fleets differ.
func TestContentVersion(t *testing.T) {
	c1, _ := hashContent(translateFile(t, "testdata/in/basic.yaml"))
	c2, _ := hashContent(translateFile(t, "testdata/in/basic.yaml"))
	cb, _ := hashContent(translateFile(t, "testdata/in/standby.yaml"))
	a1, a2, b := c1.version, c2.version, cb.version
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
		{NodeID: "n", XDSAddresses: []string{"127.0.0.1:1", "127.0.0.1:1"}, AdminAddress: "127.0.0.1:2"},
		{NodeID: "n", XDSAddresses: []string{"127.0.0.1:1", ""}, AdminAddress: "127.0.0.1:2"},
		{NodeID: "n", XDSAddresses: []string{":1"}, AdminAddress: "127.0.0.1:2"},
		{NodeID: "n", XDSAddresses: []string{"127.0.0.1:1"}, AdminAddress: "127.0.0.1:2", TLSCert: "/c.pem", TLSKey: "/k.pem"},
		{NodeID: "n", XDSAddresses: []string{"127.0.0.1:1"}, AdminAddress: "127.0.0.1:2", TLSCert: "/c.pem", TLSKey: "/k.pem", TLSCA: "/a b.pem"},
	} {
		if _, err := Bootstrap(o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

// With --tls-*, the ADS cluster uses mutual TLS with the bootstrap's
// secrets, which name the files (read and watched by Envoy).
func TestBootstrapTLS(t *testing.T) {
	out, err := Bootstrap(BootstrapOptions{NodeID: "n", XDSAddresses: []string{"127.0.0.1:1"}, AdminAddress: "127.0.0.1:2",
		TLSCert: "/etc/envoy/client.pem", TLSKey: "/etc/envoy/client-key.pem", TLSCA: "/etc/envoy/ca.pem"})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		StaticResources struct {
			Clusters []struct {
				Name            string         `yaml:"name"`
				TransportSocket map[string]any `yaml:"transport_socket"`
			} `yaml:"clusters"`
			Secrets []struct {
				Name              string         `yaml:"name"`
				TLSCertificate    map[string]any `yaml:"tls_certificate"`
				ValidationContext map[string]any `yaml:"validation_context"`
			} `yaml:"secrets"`
		} `yaml:"static_resources"`
	}
	if err := yaml.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	sr := doc.StaticResources
	if len(sr.Clusters) != 1 || sr.Clusters[0].TransportSocket == nil {
		t.Fatalf("the ADS cluster has no transport socket:\n%s", out)
	}
	if len(sr.Secrets) != 2 || sr.Secrets[0].Name != ControlPlaneClientSecret || sr.Secrets[1].Name != ControlPlaneCASecret ||
		!strings.Contains(out, "filename: /etc/envoy/client-key.pem") || !strings.Contains(out, "filename: /etc/envoy/ca.pem") {
		t.Fatalf("secrets %+v:\n%s", sr.Secrets, out)
	}
	plain, _ := Bootstrap(BootstrapOptions{NodeID: "n", XDSAddresses: []string{"127.0.0.1:1"}, AdminAddress: "127.0.0.1:2"})
	if strings.Contains(plain, "transport_socket") || strings.Contains(plain, "secrets:") {
		t.Fatalf("a bootstrap without --tls-* has TLS:\n%s", plain)
	}
}

// Envoys shows each connected Envoy's applied version per type: current
// once it acknowledged the snapshot, behind (with how long) after a new
// snapshot until it acknowledges that; a closed stream leaves the list.
func TestEnvoysTrackAppliedVersions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s := NewServer(slog.New(slog.DiscardHandler), Metrics{})
	if _, err := s.Update(ctx, translateFile(t, "testdata/in/basic.yaml")); err != nil {
		t.Fatal(err)
	}
	v1 := s.TypeVersion(resource.ListenerType)
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
	sctx, stop := context.WithCancel(ctx)
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(sctx)
	if err != nil {
		t.Fatal(err)
	}
	recv := func() *discoveryv3.DiscoveryResponse {
		t.Helper()
		r, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	send := func(r *discoveryv3.DiscoveryRequest) {
		t.Helper()
		if err := stream.Send(r); err != nil {
			t.Fatal(err)
		}
	}
	waitFor := func(what string, ok func([]Envoy) bool) []Envoy {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			list, _, _ := s.Envoys()
			if ok(list) {
				return list
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: envoys %+v", what, list)
			}
			time.Sleep(5 * time.Millisecond) // polling with a deadline
		}
	}
	send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: "envoy-1"}, TypeUrl: resource.ListenerType})
	r := recv()
	waitFor("subscribed, nothing applied", func(l []Envoy) bool { return len(l) == 1 && !l[0].Current && l[0].Node == "envoy-1" })
	send(&discoveryv3.DiscoveryRequest{TypeUrl: resource.ListenerType, VersionInfo: r.GetVersionInfo(), ResponseNonce: r.GetNonce()})
	list := waitFor("acknowledged", func(l []Envoy) bool { return len(l) == 1 && l[0].Current })
	if list[0].Applied["Listener"] != v1 || list[0].Behind != 0 {
		t.Fatalf("after the ACK: %+v", list[0])
	}
	// A new snapshot: behind until acknowledged.
	res := translateFile(t, "testdata/in/basic.yaml")
	res.Listeners[0].StatPrefix = "changed"
	snap, err := s.Update(ctx, res)
	v2 := s.TypeVersion(resource.ListenerType)
	if err != nil || v2 == v1 {
		t.Fatalf("update: %s, %v", v2, err)
	}
	if list, version, pushed := s.Envoys(); list[0].Current || version != snap || pushed.IsZero() {
		t.Fatalf("before the ACK of %s: %+v", v2, list)
	}
	r = recv()
	send(&discoveryv3.DiscoveryRequest{TypeUrl: resource.ListenerType, VersionInfo: r.GetVersionInfo(), ResponseNonce: r.GetNonce()})
	waitFor("acknowledged the new snapshot", func(l []Envoy) bool { return len(l) == 1 && l[0].Current && l[0].Applied["Listener"] == v2 })
	stop()
	waitFor("disconnected", func(l []Envoy) bool { return len(l) == 0 })
}

package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/switchyard-gw/switchyard/e2e/harness"
)

// TestControlPlaneMutualTLS: with controlPlane.grpcTLS, an Envoy holding a
// client certificate from the configured CA gets its configuration and
// routes queries through ext_proc over mutual TLS; a gRPC client with no
// certificate, with a certificate from another CA, or without TLS gets no
// xDS, no ext_proc and not even the health service.
func TestControlPlaneMutualTLS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	ca, err := harness.NewCA(dir, "control")
	if err != nil {
		t.Fatal(err)
	}
	server, err := ca.Server("control-plane")
	if err != nil {
		t.Fatal(err)
	}
	envoyCert, err := ca.Client("envoy", "envoy-1")
	if err != nil {
		t.Fatal(err)
	}
	rogueCA, err := harness.NewCA(t.TempDir(), "rogue")
	if err != nil {
		t.Fatal(err)
	}
	rogue, err := rogueCA.Client("rogue", "envoy-1")
	if err != nil {
		t.Fatal(err)
	}

	var procs []*harness.Proc
	t.Cleanup(func() {
		if t.Failed() {
			t.Log("\n" + harness.Dump(procs, 80))
		}
		for i := len(procs) - 1; i >= 0; i-- {
			procs[i].Stop()
		}
	})
	cfg := twoClusters(deadURL(t))
	cfg.GRPCTLS = map[string]string{"certFile": server.CertFile, "keyFile": server.KeyFile, "clientCAFile": ca.CertFile}
	cp, err := env.StartSwitchyard(ctx, t.Name()+"-cp", cfg)
	if err != nil {
		t.Fatal(err)
	}
	procs = append(procs, cp.Proc)
	en, err := env.StartEnvoyWith(ctx, harness.EnvoyOptions{Name: t.Name() + "-envoy", XDSAddrs: []string{cp.XDSAddr}, ListenerAddr: cp.ListenerAddr,
		TLSCert: envoyCert.CertFile, TLSKey: envoyCert.KeyFile, TLSCA: ca.CertFile})
	if err != nil {
		t.Fatal(err)
	}
	procs = append(procs, en.Proc)
	if err := en.WaitHealthy(ctx, "trino_a", "trino_b"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		rows, err := harness.RunQuery(ctx, "http://"+cp.ListenerAddr, "e2e", fmt.Sprintf("SELECT %d", i), nil)
		if err != nil || len(rows) != 1 {
			t.Fatalf("query %d through the mutual-TLS gateway: %v %v", i, rows, err)
		}
	}

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.CertPEM)
	tlsConfig := func(p *harness.Pair) *tls.Config {
		c := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
		if p != nil {
			pair, err := tls.X509KeyPair(p.CertPEM, p.KeyPEM)
			if err != nil {
				t.Fatal(err)
			}
			c.Certificates = []tls.Certificate{pair}
		}
		return c
	}
	withCert := func(p *harness.Pair) credentials.TransportCredentials { return credentials.NewTLS(tlsConfig(p)) }
	clients := []struct {
		name  string
		creds credentials.TransportCredentials
		ok    bool
	}{
		{"the right certificate", withCert(envoyCert), true},
		{"no certificate", withCert(nil), false},
		{"a certificate from another CA", withCert(rogue), false},
		{"no TLS", insecure.NewCredentials(), false},
	}
	// The queue service (HTTP, what Envoy forwards queued polls to).
	for _, c := range []struct {
		name   string
		scheme string
		tls    *tls.Config
		ok     bool
	}{
		{"the right certificate", "https", tlsConfig(envoyCert), true},
		{"no certificate", "https", tlsConfig(nil), false},
		{"a certificate from another CA", "https", tlsConfig(rogue), false},
		{"no TLS", "http", nil, false},
	} {
		t.Run("queue with "+c.name, func(t *testing.T) {
			client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: c.tls}}
			resp, err := client.Get(c.scheme + "://" + cp.QueueAddr + "/_sy/_queue/nope/1")
			var body []byte
			if err == nil {
				body, _ = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			// Plain HTTP to a TLS port gets Go's own refusal, not the queue.
			const tlsRefusal = "Client sent an HTTP request to an HTTPS server"
			switch {
			case c.ok && err != nil:
				t.Fatalf("refused: %v", err)
			case !c.ok && err == nil && (resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), tlsRefusal)):
				t.Fatalf("served: %d %s", resp.StatusCode, body)
			}
		})
	}
	for _, addr := range []struct{ name, addr string }{{"xDS", cp.XDSAddr}, {"ext_proc", cp.ExtProcAddr}} {
		for _, c := range clients {
			t.Run(addr.name+" with "+c.name, func(t *testing.T) {
				conn, err := grpc.NewClient(addr.addr, grpc.WithTransportCredentials(c.creds))
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
				defer ccancel()
				_, herr := healthpb.NewHealthClient(conn).Check(cctx, &healthpb.HealthCheckRequest{})
				var callErr error
				if addr.name == "xDS" {
					var st discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient
					if st, callErr = discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(cctx); callErr == nil {
						if callErr = st.Send(&discoveryv3.DiscoveryRequest{TypeUrl: "type.googleapis.com/envoy.config.listener.v3.Listener"}); callErr == nil {
							var resp *discoveryv3.DiscoveryResponse
							if resp, callErr = st.Recv(); callErr == nil && len(resp.GetResources()) == 0 {
								callErr = fmt.Errorf("no listener in the answer")
							}
						}
					}
				} else {
					var st extprocv3.ExternalProcessor_ProcessClient
					if st, callErr = extprocv3.NewExternalProcessorClient(conn).Process(cctx); callErr == nil {
						if callErr = st.Send(&extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestHeaders{RequestHeaders: &extprocv3.HttpHeaders{}}}); callErr == nil {
							_, callErr = st.Recv()
						}
					}
				}
				if c.ok && (herr != nil || callErr != nil) {
					t.Fatalf("refused: health %v, call %v", herr, callErr)
				}
				if !c.ok && (herr == nil || callErr == nil) {
					t.Fatalf("served: health error %v, call error %v", herr, callErr)
				}
			})
		}
	}
}

package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/switchyard-gw/switchyard/e2e/harness"
	"github.com/switchyard-gw/switchyard/pkg/config"
	"github.com/switchyard-gw/switchyard/pkg/xds"
)

// fakeCoordinator answers the health checks; /v1/info waits until
// released.
type fakeCoordinator struct {
	*httptest.Server
	release chan struct{}
}

func newFakeCoordinator(t *testing.T) *fakeCoordinator {
	f := &fakeCoordinator{release: make(chan struct{})}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/info":
			select {
			case <-f.release:
			case <-r.Context().Done():
				return
			}
			_, _ = io.WriteString(w, `{"starting":false,"coordinator":true}`)
		case "/metrics":
			_, _ = io.WriteString(w, "trino_metadata_name_DiscoveryNodeManager_ActiveNodeCount 1\n")
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(f.Close)
	return f
}

const testToken = "server-test-token-0123456789"

func testConfig(t *testing.T, coordinatorURL string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
listener: {address: 127.0.0.1:18080}
controlPlane: {adminAddress: 127.0.0.1:0, xdsAddress: 127.0.0.1:0, extProcAddress: 127.0.0.1:0}
health: {interval: 50ms, timeout: 5s}
admin: {tokens: [{name: t, tokenHash: %q, role: admin}]}
routing: {defaultGroup: adhoc}
groups: [{name: adhoc}]
clusters: [{name: c, group: adhoc, coordinators: [{url: %q}]}]
`, config.HashToken(testToken), coordinatorURL)))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// running is a Server whose Run goroutine the test can wait for.
type running struct {
	*Server
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, cfg *config.Config) *running {
	t.Helper()
	s, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Server: s, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return 30 s after its context ended")
	}
	return nil
}

func poll(t *testing.T, what string, cond func() error) {
	t.Helper()
	if err := harness.Poll(context.Background(), what, 10*time.Second, 10*time.Millisecond, cond); err != nil {
		t.Fatal(err)
	}
}

func get(url string) (int, string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// Not ready until every coordinator has been checked once; then ready,
// and a stop is graceful: Run returns nil and the ports close.
func TestReadinessAndGracefulStop(t *testing.T) {
	co := newFakeCoordinator(t)
	r := start(t, testConfig(t, co.URL))
	readyz := "http://" + r.AdminAddr + "/readyz"
	poll(t, "the admin API to answer", func() error { _, _, err := get(readyz); return err })
	status, body, _ := get(readyz)
	var doc struct {
		Error string `json:"error"`
	}
	if status != http.StatusServiceUnavailable || json.Unmarshal([]byte(body), &doc) != nil || !strings.Contains(doc.Error, "first health check") {
		t.Fatalf("before the first health check: %d %s", status, body)
	}
	select {
	case <-r.Ready():
		t.Fatal("Ready closed before the first health check")
	default:
	}
	close(co.release)
	poll(t, "ready", func() error {
		if status, body, err := get(readyz); err != nil || status != http.StatusOK {
			return fmt.Errorf("%d %s %v", status, body, err)
		}
		return nil
	})
	<-r.Ready()
	if err := r.stop(t); err != nil {
		t.Fatalf("Run after a clean stop: %v", err)
	}
	for _, addr := range []string{r.AdminAddr, r.XDSAddr, r.ExtProcAddr} {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after the stop", addr)
		}
	}
}

// ext_proc is served with the admission pipeline behind it.
func TestExtProcIsWired(t *testing.T) {
	co := newFakeCoordinator(t)
	close(co.release)
	r := start(t, testConfig(t, co.URL))
	<-r.Ready()
	stream := openExtProc(t, r.ExtProcAddr, "GET", "/v1/info", true)
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if route := routeOf(resp); route != "c" {
		t.Fatalf("route %q, want c: %v", route, resp)
	}
}

// openExtProc opens an ext_proc stream as Envoy does, with the request
// headers of method and path.
func openExtProc(t *testing.T, addr, method, path string, endOfStream bool) extprocv3.ExternalProcessor_ProcessClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	stream, err := extprocv3.NewExternalProcessorClient(conn).Process(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hs := []*corev3.HeaderValue{{Key: ":method", RawValue: []byte(method)}, {Key: ":path", RawValue: []byte(path)}}
	if err := stream.Send(&extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestHeaders{RequestHeaders: &extprocv3.HttpHeaders{
		Headers: &corev3.HeaderMap{Headers: hs}, EndOfStream: endOfStream}}}); err != nil {
		t.Fatal(err)
	}
	return stream
}

// routeOf is the gateway route header an answer sets.
func routeOf(resp *extprocv3.ProcessingResponse) string {
	for _, h := range resp.GetRequestHeaders().GetResponse().GetHeaderMutation().GetSetHeaders() {
		if h.GetHeader().GetKey() == xds.RouteHeader {
			return string(h.GetHeader().GetRawValue())
		}
	}
	return ""
}

// A burst of fleet changes gives few configuration pushes, not one each.
func TestFleetChangesAreDebounced(t *testing.T) {
	co := newFakeCoordinator(t)
	close(co.release)
	cfg := testConfig(t, co.URL)
	// Weighted: the group's route lists its active clusters, so each
	// change gives a new configuration (a state Envoy's configuration
	// does not show is not pushed at all).
	cfg.Groups[0].Strategy = config.StrategyWeighted
	r := start(t, cfg)
	<-r.Ready()
	pushes := func() int {
		mfs, err := r.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "switchyard_xds_pushes_total" {
				return int(mf.GetMetric()[0].GetCounter().GetValue())
			}
		}
		return 0
	}
	before := pushes()
	// An odd count: the burst ends with the cluster inactive, a new
	// configuration (one that ends where it began needs no push).
	const changes = 21
	for i := range changes {
		verb := []string{"deactivate", "activate"}[i%2]
		req, _ := http.NewRequest(http.MethodPost, "http://"+r.AdminAddr+"/api/v1/clusters/c/"+verb, nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: HTTP %d", verb, resp.StatusCode)
		}
	}
	poll(t, "a push for the burst", func() error {
		if pushes() == before {
			return errors.New("no push yet")
		}
		return nil
	})
	// Every change was made before this point, so any further push for them
	// comes within the debouncer's maximum delay: observe that window.
	time.Sleep(1100 * time.Millisecond) // an observation window, not synchronisation
	if n := pushes() - before; n >= changes/2 {
		t.Fatalf("%d changes gave %d pushes: not debounced", changes, n)
	}
}

// A component that fails stops every other one, and Run says which.
func TestAComponentFailureStopsTheServer(t *testing.T) {
	co := newFakeCoordinator(t)
	close(co.release)
	r := start(t, testConfig(t, co.URL))
	<-r.Ready()
	_ = r.listeners.extProc.Close() // the ext_proc server's listener fails under it
	select {
	case err := <-r.done:
		r.done <- err
		if err == nil || !strings.Contains(err.Error(), "ext_proc") {
			t.Fatalf("Run returned %v, want an ext_proc error", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the server kept running with a failed component")
	}
	if c, err := net.DialTimeout("tcp", r.AdminAddr, time.Second); err == nil {
		c.Close()
		t.Error("the admin server still runs after another component failed")
	}
}

func TestDebouncer(t *testing.T) {
	t.Run("a burst is one wake-up", func(t *testing.T) {
		d := newDebouncer(20*time.Millisecond, time.Hour)
		for range 50 {
			d.signal()
		}
		if !d.wait(context.Background()) {
			t.Fatal("wait returned false")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if d.wait(ctx) {
			t.Fatal("a second wake-up for the same burst")
		}
	})
	t.Run("a steady stream still wakes by the maximum delay", func(t *testing.T) {
		d := newDebouncer(time.Hour, 50*time.Millisecond) // quiet never comes
		var stop atomic.Bool
		done := make(chan struct{})
		go func() {
			defer close(done)
			for deadline := time.Now().Add(30 * time.Second); !stop.Load() && time.Now().Before(deadline); {
				d.signal()
				time.Sleep(time.Millisecond) // the change rate, not synchronisation
			}
		}()
		woke := d.wait(context.Background())
		streaming := !stop.Load()
		stop.Store(true)
		<-done
		if !woke || !streaming {
			t.Fatalf("woke %v while the stream ran %v", woke, streaming)
		}
	})
	t.Run("ctx ends the wait", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if newDebouncer(time.Millisecond, time.Millisecond).wait(ctx) {
			t.Fatal("woke after ctx ended")
		}
	})
}

// A stop waits for the ext_proc streams in flight: a submission whose body
// arrives after the stop began is still decided, and Run returns once the
// stream has ended.
func TestStopWaitsForStreamsInFlight(t *testing.T) {
	co := newFakeCoordinator(t)
	close(co.release)
	r := start(t, testConfig(t, co.URL))
	<-r.Ready()
	stream := openExtProc(t, r.ExtProcAddr, "POST", "/v1/statement", false)
	// The headers are answered only with the body; a message answered at
	// once proves the server holds the stream before the stop begins.
	if err := stream.Send(&extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseTrailers{ResponseTrailers: &extprocv3.HttpTrailers{}}}); err != nil {
		t.Fatal(err)
	}
	if resp, err := stream.Recv(); err != nil || resp.GetResponseTrailers() == nil {
		t.Fatalf("the stream is not served: %v %v", resp, err)
	}
	r.cancel()
	if err := stream.Send(&extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestBody{RequestBody: &extprocv3.HttpBody{
		Body: []byte("SELECT 1"), EndOfStream: true}}}); err != nil {
		t.Fatalf("sending the body after the stop began: %v", err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatalf("the stream in flight was cut by the stop: %v", err)
	}
	if routeOf(resp) != "c" {
		t.Fatalf("decision %v, want route c", resp)
	}
	select {
	case err := <-r.done:
		t.Fatalf("Run returned (%v) while a stream was open", err)
	default:
	}
	_ = stream.CloseSend()
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// The gRPC health service on the ext_proc port is what Envoy's health
// checks ask: NOT_SERVING until the replica is ready (every coordinator
// checked once, store reachable), SERVING then, and NOT_SERVING again as
// soon as it stops, while it still serves for stopDelay (2 s); the xDS port's
// service serves from the start (the first snapshot is published before
// anything serves).
func TestHealthServiceFollowsReadiness(t *testing.T) {
	co := newFakeCoordinator(t)
	cfg := testConfig(t, co.URL)
	s, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Server: s, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	check := func(addr, service string) (healthpb.HealthCheckResponse_ServingStatus, error) {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return 0, err
		}
		defer conn.Close()
		cctx, ccancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer ccancel()
		resp, err := healthpb.NewHealthClient(conn).Check(cctx, &healthpb.HealthCheckRequest{Service: service})
		return resp.GetStatus(), err
	}
	want := func(addr, service string, status healthpb.HealthCheckResponse_ServingStatus) func() error {
		return func() error {
			got, err := check(addr, service)
			if err != nil {
				return err
			}
			if got != status {
				return fmt.Errorf("%s %q: %v, want %v", addr, service, got, status)
			}
			return nil
		}
	}
	for _, service := range []string{"", xds.ExtProcHealthService} {
		poll(t, "ext_proc health before the first health round", want(s.ExtProcAddr, service, healthpb.HealthCheckResponse_NOT_SERVING))
	}
	poll(t, "xDS health", want(s.XDSAddr, xds.XDSHealthService, healthpb.HealthCheckResponse_SERVING))
	select {
	case <-r.Ready():
		t.Fatal("ready before the first health check")
	default:
	}
	close(co.release)
	<-r.Ready()
	for _, service := range []string{"", xds.ExtProcHealthService} {
		poll(t, "ext_proc health once ready", want(s.ExtProcAddr, service, healthpb.HealthCheckResponse_SERVING))
	}

	// A stop: NOT_SERVING while ext_proc still takes new streams.
	cancel()
	poll(t, "ext_proc health while stopping", want(s.ExtProcAddr, xds.ExtProcHealthService, healthpb.HealthCheckResponse_NOT_SERVING))
	stream := openExtProc(t, s.ExtProcAddr, "GET", "/v1/info", true)
	if resp, err := stream.Recv(); err != nil || routeOf(resp) != "c" {
		select {
		case <-r.done:
			t.Fatalf("the port closed before the stop delay was over: %v %v", resp, err)
		default:
		}
		t.Fatalf("a stream opened while stopping: %v %v; want it decided (route c)", resp, err)
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("Run after a clean stop: %v", err)
	}
}

// Before its first health round a replica routes submissions to the
// clusters it has not checked yet instead of refusing them (unknown
// health is not "down").
func TestSubmissionsBeforeTheFirstHealthRound(t *testing.T) {
	co := newFakeCoordinator(t) // /v1/info held: the coordinator stays unchecked
	r := start(t, testConfig(t, co.URL))
	stream := openExtProc(t, r.ExtProcAddr, "POST", "/v1/statement", false)
	if err := stream.Send(&extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestBody{RequestBody: &extprocv3.HttpBody{
		Body: []byte("SELECT 1"), EndOfStream: true}}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if ir := resp.GetImmediateResponse(); ir != nil {
		t.Fatalf("refused before the first health round: %s", ir.GetBody())
	}
	if route := routeOf(resp); route != "c" {
		t.Fatalf("route %q, want c: %v", route, resp)
	}
	select {
	case <-r.Ready():
		t.Fatal("the coordinator was checked: the test needs it unchecked")
	default:
	}
	close(co.release)
}

// A lone change wakes the debouncer at once; a change soon after a
// wake-up waits for the quiet hold-off.
func TestDebouncerLoneChange(t *testing.T) {
	d := newDebouncer(time.Hour, time.Hour)
	d.signal()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if !d.wait(ctx) {
		t.Fatal("a lone change did not wake the debouncer")
	}
	d.signal()
	soon, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if d.wait(soon) {
		t.Fatal("a change right after a wake-up did not wait for the hold-off")
	}
}

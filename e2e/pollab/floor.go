package pollab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/switchyard-gw/switchyard/pkg/xds"
)

// The floor processor: an ext_proc server that decides nothing. It answers
// a submission's stream with the same messages the control plane sends
// (the request headers answered once the body has arrived, with the route
// header for cluster c0 and the route cache cleared; each body chunk
// continued) and reads the answer observer's stream to its end. With
// Envoy's ext_proc cluster pointed at it (the variant floor-processor),
// what a submission still costs over plain Envoy is Envoy's ext_proc
// exchange itself: the part no faster decision can remove.
type floorProcessor struct{}

// floorRoute is where the floor processor sends every submission: cluster
// c0 of the lab's one-cluster fleet (route "decided:c0", to
// failoverCluster()).
const floorRoute = "c0"

func (floorProcessor) Process(stream extprocv3.ExternalProcessor_ProcessServer) error {
	md, _ := metadata.FromIncomingContext(stream.Context())
	observe := false
	for _, v := range md.Get(xds.StreamRoleMetadata) {
		observe = observe || v == xds.StreamRoleObserve
	}
	chunks := 0
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) || status.Code(err) == codes.Canceled {
			return nil
		}
		if err != nil {
			return err
		}
		if observe {
			if b := req.GetResponseBody(); b != nil && b.GetEndOfStream() {
				return nil
			}
			continue
		}
		var out []*extprocv3.ProcessingResponse
		switch r := req.Request.(type) {
		case *extprocv3.ProcessingRequest_RequestHeaders:
			if r.RequestHeaders.GetEndOfStream() {
				out = append(out, floorHeaders())
			}
		case *extprocv3.ProcessingRequest_RequestBody:
			chunks++
			if r.RequestBody.GetEndOfStream() {
				out = append(out, floorHeaders())
				for range chunks {
					out = append(out, &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestBody{RequestBody: &extprocv3.BodyResponse{}}})
				}
			}
		default:
			return fmt.Errorf("floor processor: unexpected %T", req.Request)
		}
		for _, resp := range out {
			if err := stream.Send(resp); err != nil {
				return err
			}
		}
	}
}

// floorHeaders answers the request headers as a routed submission's
// decision does, without a ticket (the observer then follows nothing up).
func floorHeaders() *extprocv3.ProcessingResponse {
	return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestHeaders{RequestHeaders: &extprocv3.HeadersResponse{
		Response: &extprocv3.CommonResponse{
			HeaderMutation: &extprocv3.HeaderMutation{
				SetHeaders:    []*corev3.HeaderValueOption{{Header: &corev3.HeaderValue{Key: xds.RouteHeader, RawValue: []byte(floorRoute)}, AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD}},
				RemoveHeaders: []string{"accept-encoding"},
			},
			ClearRouteCache: true,
		},
	}}}
}

// floorAuthz is the same floor as a unary ext_authz check (variant
// floor-authz): the whole request, its SQL included, in one message, and
// one answer (allowed, with the route header), where ext_proc exchanges
// three messages each way.
type floorAuthz struct{}

func (floorAuthz) Check(context.Context, *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	return &authv3.CheckResponse{
		Status: &rpcstatus.Status{Code: int32(codes.OK)},
		HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{
			Headers:         []*corev3.HeaderValueOption{{Header: &corev3.HeaderValue{Key: xds.RouteHeader, Value: floorRoute}, AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD}},
			HeadersToRemove: []string{"accept-encoding"},
		}},
	}, nil
}

// startFloor serves the floor processor and the floor check (a grpc-go
// server with its default options), with the health service Envoy's
// ext_proc cluster checks, on a loopback port until ctx ends.
func startFloor(ctx context.Context) (string, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	g := grpc.NewServer()
	extprocv3.RegisterExternalProcessorServer(g, floorProcessor{})
	authv3.RegisterAuthorizationServer(g, floorAuthz{})
	hs := health.NewServer()
	hs.SetServingStatus(xds.ExtProcHealthService, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(g, hs)
	go func() { _ = g.Serve(lis) }()
	go func() {
		<-ctx.Done()
		g.Stop()
	}()
	return lis.Addr().String(), nil
}

// pointExtProcAt sends the ext_proc cluster's streams to addr.
func pointExtProcAt(cfg map[string]any, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(host, "127.") {
		return fmt.Errorf("floor processor at %s: loopback only", addr)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return err
	}
	if clusterByName(cfg, xds.ExtProcCluster) == nil {
		return fmt.Errorf("no cluster %s", xds.ExtProcCluster)
	}
	// The observer's own cluster too (configurations from before it had
	// one sent its streams on the decision's).
	for _, name := range []string{xds.ExtProcCluster, xds.ObserveCluster} {
		if c := clusterByName(cfg, name); c != nil {
			c["type"] = "STATIC"
			c["load_assignment"] = oneEndpoint(name, host, p)
		}
	}
	return nil
}

// floorAuthzName is the variant floor-authz's ext_authz filter (the chain's
// own ext_authz, for client authentication, stays as it is).
const floorAuthzName = "pollab.floor_authz"

// floorAuthzFilter replaces both ext_proc filters by one ext_authz filter
// that sends a submission, its body included, to the floor check, turned
// off on every route but the submit route.
func floorAuthzFilter(cfg map[string]any) error {
	if err := noObserver(cfg); err != nil {
		return err
	}
	if err := removeFilters(cfg, filterExt); err != nil {
		return err
	}
	if err := dropPerRoute(cfg, filterExt); err != nil {
		return err
	}
	h, err := hcmOf(cfg)
	if err != nil {
		return err
	}
	fs, _ := h["http_filters"].([]any)
	authz := map[string]any{
		"name": floorAuthzName,
		"typed_config": map[string]any{
			"@type":                 "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz",
			"transport_api_version": "V3",
			"grpc_service":          map[string]any{"envoy_grpc": map[string]any{"cluster_name": xds.ExtProcCluster}, "timeout": "1s"},
			"with_request_body":     map[string]any{"max_request_bytes": 1 << 20, "pack_as_bytes": true},
			"clear_route_cache":     true,
		},
	}
	// Just before the router.
	fs = append(fs[:len(fs)-1:len(fs)-1], authz, fs[len(fs)-1])
	h["http_filters"] = fs
	vh, err := virtualHostOf(cfg)
	if err != nil {
		return err
	}
	off := map[string]any{"@type": "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute", "disabled": true}
	on := map[string]any{"@type": "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute", "check_settings": map[string]any{}}
	found := false
	for _, r := range list(vh["routes"]) {
		pf, _ := r["typed_per_filter_config"].(map[string]any)
		if pf == nil {
			pf = map[string]any{}
			r["typed_per_filter_config"] = pf
		}
		if r["name"] == "submit" {
			pf[floorAuthzName] = on
			found = true
		} else {
			pf[floorAuthzName] = off
		}
	}
	if !found {
		return errors.New("no route named submit")
	}
	return nil
}

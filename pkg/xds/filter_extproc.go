package xds

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

const extProcName = "envoy.filters.http.ext_proc"

// Dynamic metadata ext_proc sets for the route table: under
// MetadataNamespace, MetadataAddedPrepare is the X-Trino-Added-Prepare
// value that hands a new client session its ID.
const (
	MetadataNamespace    = "switchyard"
	MetadataAddedPrepare = "added_prepare"
)

// extProcFilter is the control plane's request processor (ext_proc on the
// ext_proc cluster): it classifies each request, decides where it goes and
// writes the decision into the route header. Always on.
type extProcFilter struct{}

func (extProcFilter) name() string { return extProcName }

func (extProcFilter) enabled(Options) bool { return true }

// patchHCM asks for request headers only by default; patchRoute turns the
// filter on for every route but prefixed polls and the queue's, and widens
// it for submissions.
func (extProcFilter) patchHCM(hcm *hcmv3.HttpConnectionManager, o Options) error {
	hcm.HttpFilters = append(hcm.HttpFilters, disabledFilter(extProcName, &extprocv3.ExternalProcessor{
		GrpcService: controlPlaneService(o),
		ProcessingMode: &extprocv3.ProcessingMode{
			RequestHeaderMode:   extprocv3.ProcessingMode_SEND,
			ResponseHeaderMode:  extprocv3.ProcessingMode_SKIP,
			RequestBodyMode:     extprocv3.ProcessingMode_NONE,
			ResponseBodyMode:    extprocv3.ProcessingMode_NONE,
			RequestTrailerMode:  extprocv3.ProcessingMode_SKIP,
			ResponseTrailerMode: extprocv3.ProcessingMode_SKIP,
		},
		MessageTimeout:   durationpb.New(o.ExtProcTimeout),
		FailureModeAllow: false,
		MetadataOptions: &extprocv3.MetadataOptions{
			ReceivingNamespaces: &extprocv3.MetadataOptions_MetadataNamespaces{Untyped: []string{MetadataNamespace}},
			// jwt_authn's verdict on a bearer token, for pkg/identity.
			ForwardingNamespaces: forwardedMetadata(o),
		},
		// With a STREAMED body (submissions), Envoy sends the body right
		// behind the headers; ext_proc answers the headers once it has read
		// the SQL, so a submission costs one round trip, not two.
		SendBodyWithoutWaitingForHeaderResponse: true,
	}))
	return nil
}

// patchRoute: a query's prefixed polls are routed by path alone, without
// ext_proc: the filter is off by default and not turned on for them, so
// Envoy does not create it for a poll (they cost what plain Envoy costs; the
// client that holds the URI owns them). Every other route turns it on. A
// submission streams the SQL body behind the headers (the decision is the
// answer to the headers, sent once the whole body has arrived); the
// coordinator's answer goes to the answer observer (filter_observe.go).
//
// A submission fails open: if its stream breaks (a replica killed with
// it open, and the retries on other replicas spent), Envoy goes on without
// ext_proc and reaches the submit route's direct response (a Trino-shaped
// GATEWAY_UNAVAILABLE: nothing was decided).
func (extProcFilter) patchRoute(r *routev3.Route, kind routeKind, _ Options) error {
	switch kind {
	case kindPrefixedPoll, kindQueue:
		// Off: not turned on.
	case kindSubmit:
		enableFilter(r, extProcName, &extprocv3.ExtProcPerRoute{Override: &extprocv3.ExtProcPerRoute_Overrides{Overrides: &extprocv3.ExtProcOverrides{
			ProcessingMode: &extprocv3.ProcessingMode{
				RequestHeaderMode:   extprocv3.ProcessingMode_SEND,
				ResponseHeaderMode:  extprocv3.ProcessingMode_SKIP,
				RequestBodyMode:     extprocv3.ProcessingMode_STREAMED,
				ResponseBodyMode:    extprocv3.ProcessingMode_NONE,
				RequestTrailerMode:  extprocv3.ProcessingMode_SKIP,
				ResponseTrailerMode: extprocv3.ProcessingMode_SKIP,
			},
			FailureModeAllow: wrapperspb.Bool(true),
		}}})
	case kindUILogin:
		// The login form is small: buffered, and answered in one message.
		enableFilter(r, extProcName, &extprocv3.ExtProcPerRoute{Override: &extprocv3.ExtProcPerRoute_Overrides{Overrides: &extprocv3.ExtProcOverrides{
			ProcessingMode: &extprocv3.ProcessingMode{
				RequestHeaderMode:   extprocv3.ProcessingMode_SEND,
				ResponseHeaderMode:  extprocv3.ProcessingMode_SKIP,
				RequestBodyMode:     extprocv3.ProcessingMode_BUFFERED,
				ResponseBodyMode:    extprocv3.ProcessingMode_NONE,
				RequestTrailerMode:  extprocv3.ProcessingMode_SKIP,
				ResponseTrailerMode: extprocv3.ProcessingMode_SKIP,
			},
		}}})
	default:
		// Every coordinator's routes (4,005 at 1,000 clusters): one
		// configuration, marshalled once.
		setPerFilterAny(r, extProcName, extProcAsConfiguredFilter)
	}
	return nil
}

var extProcAsConfiguredFilter = enabledFilterConfig(extProcAsConfigured())

// extProcAsConfigured is the per-route configuration that turns an ext_proc
// filter on as the connection manager configures it (no overrides).
func extProcAsConfigured() *extprocv3.ExtProcPerRoute {
	return &extprocv3.ExtProcPerRoute{Override: &extprocv3.ExtProcPerRoute_Overrides{Overrides: &extprocv3.ExtProcOverrides{}}}
}

func (extProcFilter) patchListener(*listenerv3.Listener, Options) error { return nil }

// patchResources: the ext_proc cluster is shared with ext_authz and the
// transaction access log, so Translate adds it, whatever filters are on.
func (extProcFilter) patchResources(*Resources, Options) error { return nil }

// controlPlaneService is how ext_proc and ext_authz reach the control
// plane: the replicas' cluster, with streams that failed before a replica
// answered retried on another one.
func controlPlaneService(o Options) *corev3.GrpcService { return replicaService(o, ExtProcCluster) }

// replicaService is a gRPC service of the control-plane replicas reached
// through cluster.
func replicaService(o Options, cluster string) *corev3.GrpcService {
	return &corev3.GrpcService{
		TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: cluster}},
		Timeout:         durationpb.New(o.ExtProcTimeout),
		RetryPolicy:     extProcRetryPolicy(),
	}
}

// forwardedMetadata is the dynamic metadata the control plane reads:
// jwt_authn's, when bearer tokens are verified.
func forwardedMetadata(o Options) *extprocv3.MetadataOptions_MetadataNamespaces {
	if o.JWT == nil {
		return nil
	}
	return &extprocv3.MetadataOptions_MetadataNamespaces{Untyped: []string{jwtAuthnName}}
}

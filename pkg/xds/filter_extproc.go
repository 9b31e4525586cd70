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

// patchHCM asks for request headers only by default; patchRoute widens that
// for submissions and turns the filter off for prefixed polls.
func (extProcFilter) patchHCM(hcm *hcmv3.HttpConnectionManager, o Options) error {
	hcm.HttpFilters = append(hcm.HttpFilters, typedFilter(extProcName, &extprocv3.ExternalProcessor{
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

// patchRoute: a query's prefixed polls are routed by path alone, with
// ext_proc off (they cost what plain Envoy costs; the client that holds the
// URI owns them). A submission streams the SQL body behind the headers (the
// decision is the answer to the headers, sent once the whole body has
// arrived) and has its response body buffered (small: the first
// QueryResults) so ext_proc learns the query ID.
//
// A submission fails open: if its stream breaks (a replica killed with
// it open, and the retries on other replicas spent), Envoy goes on without
// ext_proc. In the request phase that reaches the submit route's direct
// response (a Trino-shaped GATEWAY_UNAVAILABLE: nothing was decided); in
// the response phase the coordinator's answer reaches the client, which
// owns a query that runs, and only the owner record is lost (its polls
// are prefixed). Failing closed there would answer an error for a query
// the coordinator has registered.
func (extProcFilter) patchRoute(r *routev3.Route, kind routeKind, _ Options) error {
	switch kind {
	case kindPrefixedPoll, kindQueue:
		setPerFilterConfig(r, extProcName, &extprocv3.ExtProcPerRoute{
			Override: &extprocv3.ExtProcPerRoute_Disabled{Disabled: true},
		})
	case kindSubmit:
		setPerFilterConfig(r, extProcName, &extprocv3.ExtProcPerRoute{Override: &extprocv3.ExtProcPerRoute_Overrides{Overrides: &extprocv3.ExtProcOverrides{
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
		setPerFilterConfig(r, extProcName, &extprocv3.ExtProcPerRoute{Override: &extprocv3.ExtProcPerRoute_Overrides{Overrides: &extprocv3.ExtProcOverrides{
			ProcessingMode: &extprocv3.ProcessingMode{
				RequestHeaderMode:   extprocv3.ProcessingMode_SEND,
				ResponseHeaderMode:  extprocv3.ProcessingMode_SKIP,
				RequestBodyMode:     extprocv3.ProcessingMode_BUFFERED,
				ResponseBodyMode:    extprocv3.ProcessingMode_NONE,
				RequestTrailerMode:  extprocv3.ProcessingMode_SKIP,
				ResponseTrailerMode: extprocv3.ProcessingMode_SKIP,
			},
		}}})
	}
	return nil
}

func (extProcFilter) patchListener(*listenerv3.Listener, Options) error { return nil }

// patchResources: the ext_proc cluster is shared with ext_authz and the
// transaction access log, so Translate adds it, whatever filters are on.
func (extProcFilter) patchResources(*Resources, Options) error { return nil }

// controlPlaneService is how ext_proc and ext_authz reach the control
// plane: the replicas' cluster, with streams that failed before a replica
// answered retried on another one.
func controlPlaneService(o Options) *corev3.GrpcService {
	return &corev3.GrpcService{
		TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: ExtProcCluster}},
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

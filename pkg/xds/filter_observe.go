package xds

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/durationpb"
)

// The answer observer: a second ext_proc filter, in observability mode,
// that sends a routed submission's request headers (with the ticket the
// decision wrote), its SQL body when resubmission may need it, and the
// coordinator's answer to the control plane without Envoy ever waiting for
// it. The decision (extProcFilter) is the only ext_proc exchange on the
// client's critical path; the query's owner record, the session pin and
// the slot binding are written while the client already reads its answer.
const (
	observeName = "switchyard.answer_observer"
	// TicketHeader carries a routed submission's follow-up from the
	// decision to the observer (admission.FollowUp). Gateway-owned: the
	// listener strips a client's, and no cluster ever sees it.
	TicketHeader = "x-switchyard-ticket"
	// StreamRoleMetadata is the gRPC metadata key that tells the control
	// plane an ext_proc stream is the observer's (value StreamRoleObserve):
	// clients cannot set it.
	StreamRoleMetadata = "x-switchyard-stream"
	StreamRoleObserve  = "observe"
)

type observeFilter struct{}

func (observeFilter) name() string { return observeName }

func (observeFilter) enabled(Options) bool { return true }

// patchHCM adds the observer, off by default: the submit route turns it
// on (patchRoute), so Envoy creates it for submissions only. Of those, only
// the routed ones reach it: a refusal or a queued answer is the decision
// filter's local reply, which ends the request before the observer. A
// request that reaches it without a ticket (no replica decided it: the
// submit route's direct response) costs a stream the control plane closes
// at once.
func (observeFilter) patchHCM(hcm *hcmv3.HttpConnectionManager, o Options) error {
	body := extprocv3.ProcessingMode_NONE
	if o.Resubmit {
		body = extprocv3.ProcessingMode_STREAMED // the SQL, to run it again
	}
	svc := replicaService(o, ObserveCluster) // its own circuit breaker: extProcCluster
	svc.InitialMetadata = []*corev3.HeaderValue{{Key: StreamRoleMetadata, Value: StreamRoleObserve}}
	hcm.HttpFilters = append(hcm.HttpFilters, disabledFilter(observeName, &extprocv3.ExternalProcessor{
		GrpcService: svc,
		ProcessingMode: &extprocv3.ProcessingMode{
			RequestHeaderMode:   extprocv3.ProcessingMode_SEND,
			ResponseHeaderMode:  extprocv3.ProcessingMode_SKIP,
			RequestBodyMode:     body,
			ResponseBodyMode:    extprocv3.ProcessingMode_STREAMED,
			RequestTrailerMode:  extprocv3.ProcessingMode_SKIP,
			ResponseTrailerMode: extprocv3.ProcessingMode_SKIP,
		},
		ObservabilityMode: true,
		// Its own counters (http.switchyard.answer_observer.*), apart from
		// the decision's.
		StatPrefix: "answer_observer",
		// The side stream outlives the HTTP stream by at most this long
		// (the answer's last chunk reaches the control plane).
		DeferredCloseTimeout: durationpb.New(o.ExtProcTimeout * 5),
		MessageTimeout:       durationpb.New(o.ExtProcTimeout),
		FailureModeAllow:     true,
	}))
	return nil
}

// patchRoute turns the observer on for submissions only.
func (observeFilter) patchRoute(r *routev3.Route, kind routeKind, _ Options) error {
	if kind == kindSubmit {
		enableFilter(r, observeName, extProcAsConfigured())
	}
	return nil
}

func (observeFilter) patchListener(*listenerv3.Listener, Options) error { return nil }

func (observeFilter) patchResources(*Resources, Options) error { return nil }

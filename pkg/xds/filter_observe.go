package xds

import (
	xdscorev3 "github.com/cncf/xds/go/xds/core/v3"
	matcherv3 "github.com/cncf/xds/go/xds/type/matcher/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matchingv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/common/matching/v3"
	skipv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/common/matcher/action/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	inputv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
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
	// TicketPrefix begins every ticket (base64url of `{"`: a ticket is a
	// JSON object); the observer's matcher looks for it (Envoy's string
	// matchers take no empty pattern, and a prefix is the cheapest).
	TicketPrefix = "eyJ"
)

type observeFilter struct{}

func (observeFilter) name() string { return observeName }

func (observeFilter) enabled(Options) bool { return true }

// patchHCM wraps the observer in a matcher that skips it unless the
// request carries a ticket: only routed submissions open its stream (a
// refused one has none).
func (observeFilter) patchHCM(hcm *hcmv3.HttpConnectionManager, o Options) error {
	body := extprocv3.ProcessingMode_NONE
	if o.Resubmit {
		body = extprocv3.ProcessingMode_STREAMED // the SQL, to run it again
	}
	svc := controlPlaneService(o)
	svc.InitialMetadata = []*corev3.HeaderValue{{Key: StreamRoleMetadata, Value: StreamRoleObserve}}
	observer := &extprocv3.ExternalProcessor{
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
	}
	hcm.HttpFilters = append(hcm.HttpFilters, disabledFilter(observeName, &matchingv3.ExtensionWithMatcher{
		ExtensionConfig: &corev3.TypedExtensionConfig{Name: observeName, TypedConfig: mustAny(observer)},
		XdsMatcher:      ticketMatcher(),
	}))
	return nil
}

// ticketMatcher skips the observer for a request without a ticket.
func ticketMatcher() *matcherv3.Matcher {
	skip := &matcherv3.Matcher_OnMatch{OnMatch: &matcherv3.Matcher_OnMatch_Action{Action: &xdscorev3.TypedExtensionConfig{
		Name: "skip", TypedConfig: mustAny(&skipv3.SkipFilter{}),
	}}}
	noTicket := &matcherv3.Matcher_MatcherList_Predicate{MatchType: &matcherv3.Matcher_MatcherList_Predicate_NotMatcher{
		NotMatcher: &matcherv3.Matcher_MatcherList_Predicate{MatchType: &matcherv3.Matcher_MatcherList_Predicate_SinglePredicate_{
			SinglePredicate: &matcherv3.Matcher_MatcherList_Predicate_SinglePredicate{
				Input: &xdscorev3.TypedExtensionConfig{Name: "ticket", TypedConfig: mustAny(&inputv3.HttpRequestHeaderMatchInput{HeaderName: TicketHeader})},
				Matcher: &matcherv3.Matcher_MatcherList_Predicate_SinglePredicate_ValueMatch{ValueMatch: &matcherv3.StringMatcher{
					MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: TicketPrefix},
				}},
			},
		}},
	}}
	return &matcherv3.Matcher{MatcherType: &matcherv3.Matcher_MatcherList_{MatcherList: &matcherv3.Matcher_MatcherList{
		Matchers: []*matcherv3.Matcher_MatcherList_FieldMatcher{{Predicate: noTicket, OnMatch: skip}},
	}}}
}

// patchRoute turns the observer on for submissions only (the filter is off
// by default): no other request ever carries a ticket, and Envoy does not
// create the filter for them.
func (observeFilter) patchRoute(r *routev3.Route, kind routeKind, _ Options) error {
	if kind == kindSubmit {
		// The per-route configuration of a filter behind a matcher is its
		// matcher: the same one.
		enableFilter(r, observeName, &matchingv3.ExtensionWithMatcherPerRoute{XdsMatcher: ticketMatcher()})
	}
	return nil
}

func (observeFilter) patchListener(*listenerv3.Listener, Options) error { return nil }

func (observeFilter) patchResources(*Resources, Options) error { return nil }

package xds

import (
	"encoding/json"
	"strconv"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	mutationv3 "github.com/envoyproxy/go-control-plane/envoy/config/common/mutation_rules/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	earlyhmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/http/early_header_mutation/header_mutation/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/switchyard-gw/switchyard/pkg/trino"
)

// buildListener is the client listener: one HTTP connection manager whose
// HTTP filters are the chain's, in order (registry.go). Headers the gateway
// owns are removed before anything else sees the request, so a client
// cannot choose a cluster.
func buildListener(o Options, chain filterChain) (*listenerv3.Listener, error) {
	host, port, err := splitHostPort(o.ListenerAddress)
	if err != nil {
		return nil, err
	}
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix: hcmStatPrefix,
		CodecType:  hcmv3.HttpConnectionManager_AUTO,
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			RouteConfigName: RouteConfigName,
			ConfigSource:    adsSource(),
		}},
		EarlyHeaderMutationExtensions: []*corev3.TypedExtensionConfig{{
			Name: "switchyard.strip_owned_headers",
			TypedConfig: mustAny(&earlyhmv3.HeaderMutation{Mutations: []*mutationv3.HeaderMutation{
				{Action: &mutationv3.HeaderMutation_Remove{Remove: RouteHeader}},
				{Action: &mutationv3.HeaderMutation_Remove{Remove: ForwardedPrefix}},
				{Action: &mutationv3.HeaderMutation_Remove{Remove: TicketHeader}},
			}}),
		}},
		// Edge settings (Envoy's edge-proxy guidance, where they fit Trino
		// traffic; docs/configuration.md gives each one's reason):
		// trust no client-supplied X-Forwarded-For; bound idle streams and
		// slow request headers, but never a whole request (no
		// request_timeout: a Trino poll or a result download may take as
		// long as the query); one canonical path, so a policy or route on a
		// path cannot be dodged by spelling it differently.
		UseRemoteAddress:             wrapperspb.Bool(true),
		StreamIdleTimeout:            durationpb.New(o.RequestTimeout),
		RequestHeadersTimeout:        durationpb.New(o.RequestTimeout),
		NormalizePath:                wrapperspb.Bool(true),
		MergeSlashes:                 true,
		PathWithEscapedSlashesAction: hcmv3.HttpConnectionManager_UNESCAPE_AND_REDIRECT,
		MaxRequestHeadersKb:          wrapperspb.UInt32(MaxRequestHeadersKB),
		CommonHttpProtocolOptions: &corev3.HttpProtocolOptions{
			IdleTimeout:                  durationpb.New(upstreamIdleTime * 5),
			HeadersWithUnderscoresAction: corev3.HttpProtocolOptions_REJECT_REQUEST,
			MaxHeadersCount:              wrapperspb.UInt32(MaxHeadersCount),
		},
		// HTTP/2 limits set explicitly (Envoy 1.40's defaults are far
		// larger): a client multiplexes at most this many streams, and
		// cannot make Envoy buffer more than the windows.
		Http2ProtocolOptions: &corev3.Http2ProtocolOptions{
			MaxConcurrentStreams:        wrapperspb.UInt32(100),
			InitialStreamWindowSize:     wrapperspb.UInt32(64 << 10),
			InitialConnectionWindowSize: wrapperspb.UInt32(1 << 20),
		},
		LocalReplyConfig: localReplies(o),
	}
	if err := chain.patchHCM(hcm, o); err != nil {
		return nil, err
	}
	l := &listenerv3.Listener{
		Name:    ListenerName,
		Address: socketAddress(host, port),
		// Room for the largest SQL text plus headers: ext_proc sees more than
		// the limit before Envoy stops reading, and answers with the error.
		PerConnectionBufferLimitBytes: wrapperspb.UInt32(o.MaxBodyBytes + bufferHeadroom),
		FilterChains: []*listenerv3.FilterChain{{
			Filters: []*listenerv3.Filter{{
				Name:       "envoy.filters.network.http_connection_manager",
				ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(hcm)},
			}},
		}},
	}
	if err := chain.patchListener(l, o); err != nil {
		return nil, err
	}
	return l, nil
}

const bufferHeadroom = 64 << 10

// Header limits of the client listener: Envoy's defaults, set explicitly
// so they are part of the configuration's contract (a Trino client sends
// a few dozen headers; X-Trino-Session and X-Trino-Prepared-Statement are
// the large ones).
const (
	MaxRequestHeadersKB = 60
	MaxHeadersCount     = 100
)

// localReplies makes the replies Envoy itself generates readable by Trino
// clients: on statement-protocol paths a FAILED QueryResults with HTTP 200
// (the only form every client prints), elsewhere a JSON error document with
// the original status. Replies from ext_proc (status 200, 404, 503 with a
// JSON body) carry no response flag and a status these mappers skip.
func localReplies(o Options) *hcmv3.LocalReplyConfig {
	statement := headerPrefixFilter(":path", statementPrefix)
	tooLarge := statusFilter(413)
	upstreamFailure := &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_ResponseFlagFilter{
		// The upstream failures (not, e.g., an ext_authz denial, whose
		// body is already a JSON error).
		ResponseFlagFilter: &accesslogv3.ResponseFlagFilter{Flags: []string{"UH", "UF", "UO", "URX", "UC", "UT", "UPE", "UMSDR", "NC"}},
	}}
	extProcFailure := statusFilter(500)
	codecErrors := orFilter(statusFilter(400), statusFilter(408), statusFilter(431))
	msgTooLarge := "query text exceeds the gateway limit of " + strconv.Itoa(int(o.MaxBodyBytes)) + " bytes (listener.maxBodyBytes)"
	msgUpstream := "the gateway could not complete the request to the Trino coordinator: %RESPONSE_CODE_DETAILS%"
	msgExtProc := "the switchyard control plane did not answer (ext_proc: %RESPONSE_CODE_DETAILS%); try again"
	return &hcmv3.LocalReplyConfig{Mappers: []*hcmv3.ResponseMapper{
		statementMapper(andFilter(tooLarge, statement), trino.ErrQueryTextTooLarge, msgTooLarge),
		documentMapper(tooLarge, trino.ErrQueryTextTooLarge, msgTooLarge),
		statementMapper(andFilter(upstreamFailure, statement), trino.ErrCoordinatorGone, msgUpstream),
		documentMapper(upstreamFailure, trino.ErrCoordinatorGone, msgUpstream),
		statementMapper(andFilter(extProcFailure, statement), trino.ErrGatewayUnavailable, msgExtProc),
		documentMapper(extProcFailure, trino.ErrGatewayUnavailable, msgExtProc),
		documentMapper(codecErrors, trino.ErrBadRequest, "bad request: %LOCAL_REPLY_BODY%"),
	}}
}

func statementMapper(filter *accesslogv3.AccessLogFilter, code trino.ErrorCode, msg string) *hcmv3.ResponseMapper {
	return &hcmv3.ResponseMapper{
		Filter:             filter,
		StatusCode:         wrapperspb.UInt32(200),
		BodyFormatOverride: jsonFormat(trino.FailedQueryResults("switchyard_gateway_error", "/ui/", code, msg)),
	}
}

func documentMapper(filter *accesslogv3.AccessLogFilter, code trino.ErrorCode, msg string) *hcmv3.ResponseMapper {
	return &hcmv3.ResponseMapper{Filter: filter, BodyFormatOverride: jsonFormat(trino.ErrorDocument(code, msg))}
}

// jsonFormat turns one of the protocol's JSON documents into an Envoy JSON
// format; %OPERATORS% in its strings are substituted and escaped by Envoy.
func jsonFormat(doc []byte) *corev3.SubstitutionFormatString {
	var v map[string]any
	if err := json.Unmarshal(doc, &v); err != nil {
		panic(err)
	}
	s, err := structpb.NewStruct(v)
	if err != nil {
		panic(err)
	}
	return &corev3.SubstitutionFormatString{
		Format:      &corev3.SubstitutionFormatString_JsonFormat{JsonFormat: s},
		ContentType: "application/json",
	}
}

func statusFilter(code uint32) *accesslogv3.AccessLogFilter {
	return &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_StatusCodeFilter{
		StatusCodeFilter: &accesslogv3.StatusCodeFilter{Comparison: &accesslogv3.ComparisonFilter{
			Op:    accesslogv3.ComparisonFilter_EQ,
			Value: &corev3.RuntimeUInt32{DefaultValue: code, RuntimeKey: "switchyard.local_reply." + strconv.Itoa(int(code))},
		}},
	}}
}

func headerPrefixFilter(name, prefix string) *accesslogv3.AccessLogFilter {
	return &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_HeaderFilter{
		HeaderFilter: &accesslogv3.HeaderFilter{Header: &routev3.HeaderMatcher{
			Name: name,
			HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{
				MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: prefix},
			}},
		}},
	}}
}

func andFilter(fs ...*accesslogv3.AccessLogFilter) *accesslogv3.AccessLogFilter {
	return &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_AndFilter{
		AndFilter: &accesslogv3.AndFilter{Filters: fs},
	}}
}

func orFilter(fs ...*accesslogv3.AccessLogFilter) *accesslogv3.AccessLogFilter {
	return &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_OrFilter{
		OrFilter: &accesslogv3.OrFilter{Filters: fs},
	}}
}

func adsSource() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ResourceApiVersion:    corev3.ApiVersion_V3,
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
	}
}

func socketAddress(host string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address:       host,
		PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

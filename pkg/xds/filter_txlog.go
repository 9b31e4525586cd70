package xds

import (
	"time"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	grpcalsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/grpc/v3"
	headertometav3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_to_metadata/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// The transaction log: the responses that start a Trino transaction
// (X-Trino-Started-Transaction-Id, on whichever poll carries it) are
// reported to the control plane with the coordinator that answered, so a
// transaction's next statements go to its cluster (pkg/txlog).
//
// Deciding which responses to report is on every request's path, polls
// included, so it is two lookups: header_to_metadata notes the header's
// presence in dynamic metadata, and the access log's metadata filter reads
// it (a CEL expression on the response headers cost a poll about 30 µs:
// docs/benchmarks-polls.md).
const (
	txMetadataName = "envoy.filters.http.header_to_metadata"
	// TxMetadataNamespace and TxMetadataKey are where the started
	// transaction's ID is noted.
	TxMetadataNamespace = "switchyard.transactions"
	TxMetadataKey       = "started"
	startedTxHeader     = "x-trino-started-transaction-id"
)

type txLogFilter struct{}

func (txLogFilter) name() string { return txMetadataName }

func (txLogFilter) enabled(Options) bool { return true }

func (txLogFilter) patchHCM(hcm *hcmv3.HttpConnectionManager, o Options) error {
	hcm.HttpFilters = append(hcm.HttpFilters, typedFilter(txMetadataName, &headertometav3.Config{
		ResponseRules: []*headertometav3.Config_Rule{{
			Header: startedTxHeader,
			OnHeaderPresent: &headertometav3.Config_KeyValuePair{
				MetadataNamespace: TxMetadataNamespace, Key: TxMetadataKey, Type: headertometav3.Config_STRING,
			},
		}},
	}))
	hcm.AccessLog = append(hcm.AccessLog, transactionLogs(o)...)
	return nil
}

func (txLogFilter) patchRoute(*routev3.Route, routeKind, Options) error { return nil }

func (txLogFilter) patchListener(*listenerv3.Listener, Options) error { return nil }

// patchResources: the transaction log clusters (one per replica) are added
// with the other control-plane clusters by Translate.
func (txLogFilter) patchResources(*Resources, Options) error { return nil }

// transactionLogs report to the control plane (gRPC access log) only the
// responses that start a Trino transaction, with the coordinator that
// answered: see pkg/txlog. There is one log per control-plane replica, each
// on its own cluster (TxLogClusterName), so every replica records every
// transaction: a gRPC access log streams to one host at a time, and a
// replica killed with the stream open took the only report of a
// transaction with it. Recording is an idempotent SET, so the copies cost
// a write each and lose nothing.
func transactionLogs(o Options) []*accesslogv3.AccessLog {
	logs := make([]*accesslogv3.AccessLog, 0, len(o.ExtProcTargets))
	for i := range o.ExtProcTargets {
		logs = append(logs, transactionLog(TxLogClusterName(i)))
	}
	return logs
}

func transactionLog(cluster string) *accesslogv3.AccessLog {
	return &accesslogv3.AccessLog{
		Name: "envoy.access_loggers.http_grpc",
		Filter: &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_MetadataFilter{
			MetadataFilter: &accesslogv3.MetadataFilter{
				Matcher: &matcherv3.MetadataMatcher{
					Filter: TxMetadataNamespace,
					Path:   []*matcherv3.MetadataMatcher_PathSegment{{Segment: &matcherv3.MetadataMatcher_PathSegment_Key{Key: TxMetadataKey}}},
					Value:  &matcherv3.ValueMatcher{MatchPattern: &matcherv3.ValueMatcher_PresentMatch{PresentMatch: true}},
				},
				MatchIfKeyNotFound: wrapperspb.Bool(false),
			},
		}},
		ConfigType: &accesslogv3.AccessLog_TypedConfig{TypedConfig: mustAny(&grpcalsv3.HttpGrpcAccessLogConfig{
			CommonConfig: &grpcalsv3.CommonGrpcAccessLogConfig{
				LogName: "switchyard-transactions",
				GrpcService: &corev3.GrpcService{TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{
					EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: cluster},
				}},
				TransportApiVersion: corev3.ApiVersion_V3,
				// Flush at once: the client's next statement needs the record.
				BufferSizeBytes:     wrapperspb.UInt32(1),
				BufferFlushInterval: durationpb.New(10 * time.Millisecond),
			},
			AdditionalResponseHeadersToLog: []string{startedTxHeader},
		})},
	}
}

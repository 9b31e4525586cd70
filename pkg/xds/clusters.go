package xds

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	mutationv3 "github.com/envoyproxy/go-control-plane/envoy/config/common/mutation_rules/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	aggregatev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/clusters/aggregate/v3"
	headermutationv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_mutation/v3"
	upstreamcodecv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/upstream_codec/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	prevhostsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/host/previous_hosts/v3"
	prevprioritiesv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/priority/previous_priorities/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/trino"
)

const metadataPrefixKey = "prefix"

// extProcCluster is the gRPC (HTTP/2) cluster of the control-plane
// replicas: ext_proc, ext_authz and the transaction access log. Envoy
// spreads streams over every replica it considers healthy and stops using
// one that dies, without waiting for a failed submission:
//   - gRPC health checks (grpc.health.v1, served on the ext_proc port) take
//     a replica out once it says NOT_SERVING (starting, or stopping) or
//     stops answering;
//   - outlier detection ejects a replica at its first local-origin failure
//     (connection refused, reset, timeout), before the next health check;
//   - the panic threshold is 1%: a replica that is not ready is skipped
//     while another is healthy, but when none is (a lone replica
//     starting), Envoy sends to them all rather than refuse everything.
//
// The retry policy of the streams themselves is extProcRetryPolicy.
//
// The answer observer's streams have a cluster of their own (name
// ObserveCluster, the same replicas and settings), so their own circuit
// breaker: a backlog of observations (at saturation, while the
// follow-ups' store writes fall behind) can fail observations, never the
// decisions on ExtProcCluster.
func extProcCluster(o Options, name string) (*clusterv3.Cluster, error) {
	var lbs []*endpointv3.LbEndpoint
	for _, t := range o.ExtProcTargets {
		h, p, err := splitHostPort(t)
		if err != nil {
			return nil, err
		}
		lbs = append(lbs, &endpointv3.LbEndpoint{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{
			Endpoint: &endpointv3.Endpoint{Address: socketAddress(h, p)},
		}})
	}
	return &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS},
		// Replicas sit next to their Envoys: a connection that takes longer
		// than this goes to a replica that is gone.
		ConnectTimeout: durationpb.New(extProcConnectTimeout),
		LoadAssignment: &endpointv3.ClusterLoadAssignment{
			ClusterName: name,
			Endpoints:   []*endpointv3.LocalityLbEndpoints{{LbEndpoints: lbs}},
		},
		HealthChecks: []*corev3.HealthCheck{{
			Timeout:  durationpb.New(500 * time.Millisecond),
			Interval: durationpb.New(ExtProcHealthInterval),
			// The same pace without traffic, so a replica that comes back
			// (or gets ready) rejoins within a second.
			NoTrafficInterval:  durationpb.New(ExtProcHealthInterval),
			UnhealthyThreshold: wrapperspb.UInt32(1),
			HealthyThreshold:   wrapperspb.UInt32(1),
			HealthChecker: &corev3.HealthCheck_GrpcHealthCheck_{GrpcHealthCheck: &corev3.HealthCheck_GrpcHealthCheck{
				ServiceName: ExtProcHealthService,
			}},
		}},
		OutlierDetection: &clusterv3.OutlierDetection{
			SplitExternalLocalOriginErrors:         true,
			ConsecutiveLocalOriginFailure:          wrapperspb.UInt32(1),
			EnforcingConsecutiveLocalOriginFailure: wrapperspb.UInt32(100),
			ConsecutiveGatewayFailure:              wrapperspb.UInt32(1),
			EnforcingConsecutiveGatewayFailure:     wrapperspb.UInt32(100),
			EnforcingConsecutive_5Xx:               wrapperspb.UInt32(0),
			EnforcingSuccessRate:                   wrapperspb.UInt32(0),
			EnforcingLocalOriginSuccessRate:        wrapperspb.UInt32(0),
			Interval:                               durationpb.New(time.Second),
			BaseEjectionTime:                       durationpb.New(5 * time.Second),
			// Every replica may be ejected (the panic threshold decides
			// what happens then); the default 10% would eject none of two.
			MaxEjectionPercent: wrapperspb.UInt32(100),
		},
		CommonLbConfig:                &clusterv3.Cluster_CommonLbConfig{HealthyPanicThreshold: &typev3.Percent{Value: 1}},
		TypedExtensionProtocolOptions: replicaProtocolOptions(),
	}, nil
}

// replicaProtocolOptions: the control plane speaks gRPC (HTTP/2), with
// keepalives, so a replica behind a black-holed connection is found dead
// within interval+timeout.
func replicaProtocolOptions() map[string]*anypb.Any {
	return map[string]*anypb.Any{
		"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": mustAny(&httpv3.HttpProtocolOptions{
			UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &corev3.Http2ProtocolOptions{
					ConnectionKeepalive: &corev3.KeepaliveSettings{Interval: durationpb.New(10 * time.Second), Timeout: durationpb.New(5 * time.Second)},
				}},
			}},
		}),
	}
}

// TxLogClusterName is the cluster of the i-th control-plane replica
// (controlPlane.extProcTargets[i]) for the transaction access log.
func TxLogClusterName(i int) string { return "switchyard_txlog_" + strconv.Itoa(i) }

// txLogClusters are one cluster per control-plane replica, each with that
// replica alone, for the transaction access logs (transactionLogs): a
// report must reach every replica, not the one a load balancer picks.
// No health checks: a dead replica's log fails on its own and loses only
// its copy.
func txLogClusters(o Options) ([]*clusterv3.Cluster, error) {
	var out []*clusterv3.Cluster
	for i, t := range o.ExtProcTargets {
		h, p, err := splitHostPort(t)
		if err != nil {
			return nil, err
		}
		name := TxLogClusterName(i)
		out = append(out, &clusterv3.Cluster{
			Name:                 name,
			ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS},
			ConnectTimeout:       durationpb.New(extProcConnectTimeout),
			LoadAssignment: &endpointv3.ClusterLoadAssignment{
				ClusterName: name,
				Endpoints: []*endpointv3.LocalityLbEndpoints{{LbEndpoints: []*endpointv3.LbEndpoint{{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{
					Endpoint: &endpointv3.Endpoint{Address: socketAddress(h, p)},
				}}}}},
			},
			TypedExtensionProtocolOptions: replicaProtocolOptions(),
		})
	}
	return out, nil
}

// ExtProcHealthService is the grpc.health.v1 service name Envoy checks on
// the ext_proc port: SERVING once the replica is ready to decide.
const ExtProcHealthService = "envoy.service.ext_proc.v3.ExternalProcessor"

// ExtProcHealthInterval is how often Envoy checks each replica.
const ExtProcHealthInterval = time.Second

const extProcConnectTimeout = 250 * time.Millisecond

// extProcRetryPolicy retries an ext_proc (or ext_authz) stream on another
// replica when it failed before the replica answered anything: the
// connection was refused or reset, or the replica died with the stream
// open in the request phase. Envoy buffers the messages it sent for the
// retry. A stream the replica already answered is never retried (Envoy
// cannot), so nothing is decided twice.
func extProcRetryPolicy() *corev3.RetryPolicy {
	return &corev3.RetryPolicy{
		RetryOn:    "connect-failure,refused-stream,reset,unavailable",
		NumRetries: wrapperspb.UInt32(2),
		RetryBackOff: &corev3.BackoffStrategy{
			BaseInterval: durationpb.New(5 * time.Millisecond),
			MaxInterval:  durationpb.New(50 * time.Millisecond),
		},
		RetryHostPredicate: []*corev3.RetryPolicy_RetryHostPredicate{{
			Name:       "envoy.retry_host_predicates.previous_hosts",
			ConfigType: &corev3.RetryPolicy_RetryHostPredicate_TypedConfig{TypedConfig: previousHostsAny},
		}},
		HostSelectionRetryMaxAttempts: 3,
	}
}

// trinoClusters builds, for one Trino cluster, the submission cluster (all
// coordinators; standbys at priority 1) and one cluster per coordinator,
// with their endpoints. Coordinators named by IP use EDS; by DNS name, a
// STRICT_DNS cluster with the endpoints inline.
func trinoClusters(c fleet.Cluster, f *fleet.Fleet, o Options) ([]*clusterv3.Cluster, []*endpointv3.ClusterLoadAssignment, error) {
	if len(c.Coordinators) == 0 {
		return nil, nil, fmt.Errorf("no coordinators")
	}
	var clusters []*clusterv3.Cluster
	var cla []*endpointv3.ClusterLoadAssignment
	add := func(name string, cos []fleet.Coordinator, submission bool) {
		cl, la := trinoCluster(name, &c, cos, o, submission)
		clusters = append(clusters, cl)
		if la != nil {
			cla = append(cla, la)
		}
	}
	add(SubmitClusterName(c.Name), c.Coordinators, true)
	for _, co := range c.Coordinators {
		add(CoordinatorClusterName(c.Name, co.Name), []fleet.Coordinator{co}, false)
		if o.Resubmit {
			clusters = append(clusters, pollCluster(c, co))
		}
	}
	clusters = append(clusters, failoverCluster(c, f, o))
	return clusters, cla, nil
}

// FailoverClusterName is where ext_proc's decision for cluster c goes: an
// aggregate of c, then the other active clusters of its group.
func FailoverClusterName(cluster string) string { return "trino_" + cluster + "_failover" }

// failoverCluster lets a submission that cannot reach the chosen cluster
// (its coordinators refuse connections, or Envoy already found them
// unhealthy) run on another active cluster of the same group, in the
// moment between a coordinator's death and the health checks noticing.
// The aggregate's priorities are the chosen cluster's (active, then
// standby coordinators) followed by each alternative's; the route's retry
// policy walks them on connection failures, which never reached a
// coordinator, so no query is registered twice.
func failoverCluster(c fleet.Cluster, f *fleet.Fleet, o Options) *clusterv3.Cluster {
	members := []string{SubmitClusterName(c.Name)}
	for _, alt := range f.ClustersIn(c.Group) {
		if alt.Name != c.Name && alt.State == fleet.Active {
			members = append(members, SubmitClusterName(alt.Name))
		}
	}
	return &clusterv3.Cluster{
		Name:           FailoverClusterName(c.Name),
		ConnectTimeout: durationpb.New(time.Second),
		LbPolicy:       clusterv3.Cluster_CLUSTER_PROVIDED,
		ClusterDiscoveryType: &clusterv3.Cluster_ClusterType{ClusterType: &clusterv3.Cluster_CustomClusterType{
			Name:        "envoy.clusters.aggregate",
			TypedConfig: mustAny(&aggregatev3.ClusterConfig{Clusters: members}),
		}},
		TypedExtensionProtocolOptions: map[string]*anypb.Any{
			"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": upstreamOptionsAny(true),
		},
		CircuitBreakers: trinoCircuitBreakers(),
	}
}

// maxRetries bounds the retries in flight to one Trino cluster at once.
// Envoy's default is 3: when a coordinator dies under load, more than
// three requests fail at the same moment, and those past the third were
// not retried on the next cluster but failed (upstream_rq_retry_overflow).
// Retries are bounded by the requests themselves (one attempt after
// another), so the bound is the requests' default.
const maxRetries = 1024

func trinoCircuitBreakers() *clusterv3.CircuitBreakers {
	return &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{
		{Priority: corev3.RoutingPriority_DEFAULT, MaxRetries: wrapperspb.UInt32(maxRetries)},
	}}
}

// trinoCluster builds one Envoy cluster of coordinators.
//
// A submission cluster holds every coordinator (standbys at priority 1) and
// an upstream filter that sets X-Forwarded-Prefix from the endpoint chosen
// for each attempt; it never sends a new query to a coordinator Envoy
// considers unhealthy (panic threshold 0). A coordinator cluster carries the
// follow-ups of the queries one coordinator owns: it gets the prefix from
// its routes, and keeps sending to its coordinator even when health checks
// fail (Envoy's panic mode), because those queries can live nowhere else.
func trinoCluster(name string, c *fleet.Cluster, cos []fleet.Coordinator, o Options, submission bool) (*clusterv3.Cluster, *endpointv3.ClusterLoadAssignment) {
	trinoName := c.Name
	byPriority := map[uint32][]*endpointv3.LbEndpoint{}
	allIP := true
	tlsSNI := ""
	for _, co := range cos {
		prio := uint32(0)
		if c.IsStandby(co) {
			prio = 1
		}
		md, _ := structpb.NewStruct(map[string]any{metadataPrefixKey: trino.CoordinatorPrefix(trinoName, co.Name)})
		byPriority[prio] = append(byPriority[prio], &endpointv3.LbEndpoint{
			HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
				Address:  socketAddress(co.Host, co.Port),
				Hostname: co.Host,
			}},
			Metadata: &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{MetadataNS: md}},
		})
		allIP = allIP && co.HasIP()
		if co.Scheme == "https" {
			tlsSNI = co.Host
		}
	}
	la := &endpointv3.ClusterLoadAssignment{ClusterName: name}
	for _, p := range []uint32{0, 1} {
		if eps := byPriority[p]; len(eps) > 0 {
			la.Endpoints = append(la.Endpoints, &endpointv3.LocalityLbEndpoints{Priority: p, LbEndpoints: eps})
		}
	}
	cl := &clusterv3.Cluster{
		Name:           name,
		ConnectTimeout: durationpb.New(time.Second),
		HealthChecks:   []*corev3.HealthCheck{healthCheck(o.Health)},
		// Ejected on consecutive gateway errors (connect failures, 502-504)
		// between health checks; a coordinator cluster is small, so allow
		// every host to be ejected.
		OutlierDetection: &clusterv3.OutlierDetection{
			ConsecutiveGatewayFailure:          wrapperspb.UInt32(3),
			EnforcingConsecutiveGatewayFailure: wrapperspb.UInt32(100),
			EnforcingConsecutive_5Xx:           wrapperspb.UInt32(0),
			Interval:                           durationpb.New(time.Second),
			BaseEjectionTime:                   durationpb.New(5 * time.Second),
			MaxEjectionPercent:                 wrapperspb.UInt32(100),
		},
		TypedExtensionProtocolOptions: map[string]*anypb.Any{
			"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": upstreamOptionsAny(submission),
		},
		CircuitBreakers: trinoCircuitBreakers(),
	}
	if submission {
		cl.CommonLbConfig = &clusterv3.Cluster_CommonLbConfig{HealthyPanicThreshold: &typev3.Percent{Value: 0}}
	}
	if tlsSNI != "" {
		cl.TransportSocket = &corev3.TransportSocket{
			Name:       "envoy.transport_sockets.tls",
			ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(&tlsv3.UpstreamTlsContext{Sni: tlsSNI})},
		}
	}
	if allIP {
		cl.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS}
		cl.EdsClusterConfig = &clusterv3.Cluster_EdsClusterConfig{ServiceName: name, EdsConfig: adsSource()}
		return cl, la
	}
	cl.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS}
	cl.LoadAssignment = la
	return cl, nil
}

// upstreamOptions: HTTP/1.1 to coordinators and, with perAttemptPrefix, an
// upstream filter that sets X-Forwarded-Prefix from the metadata of the
// endpoint actually chosen for this attempt (also after a retry to a
// standby), so the coordinator builds nextUri/infoUri under
// /_sy/{cluster}/{coordinator}.
func upstreamOptions(perAttemptPrefix bool) *httpv3.HttpProtocolOptions {
	o := &httpv3.HttpProtocolOptions{
		CommonHttpProtocolOptions: &corev3.HttpProtocolOptions{IdleTimeout: durationpb.New(upstreamIdleTime)},
		UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
			ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_HttpProtocolOptions{HttpProtocolOptions: &corev3.Http1ProtocolOptions{}},
		}},
	}
	if !perAttemptPrefix {
		return o
	}
	o.HttpFilters = []*hcmv3.HttpFilter{
		{Name: "envoy.filters.http.header_mutation", ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&headermutationv3.HeaderMutation{
			Mutations: &headermutationv3.Mutations{RequestMutations: []*mutationv3.HeaderMutation{{
				Action: &mutationv3.HeaderMutation_Append{Append: &corev3.HeaderValueOption{
					Header:       &corev3.HeaderValue{Key: ForwardedPrefix, Value: "%UPSTREAM_METADATA(" + MetadataNS + ":" + metadataPrefixKey + ")%"},
					AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
				}},
			}}},
		})}},
		{Name: "envoy.filters.http.upstream_codec", ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&upstreamcodecv3.UpstreamCodec{})}},
	}
	return o
}

// healthCheck: GET /v1/info must answer 200 with "starting":false.
func healthCheck(h HealthCheck) *corev3.HealthCheck {
	return &corev3.HealthCheck{
		Timeout:  durationpb.New(h.Timeout),
		Interval: durationpb.New(h.Interval),
		// Check at the same pace before a cluster's first request (Envoy
		// otherwise waits 60 s), so a fresh coordinator joins promptly.
		NoTrafficInterval:  durationpb.New(h.Interval),
		UnhealthyThreshold: wrapperspb.UInt32(h.Fall),
		HealthyThreshold:   wrapperspb.UInt32(h.Rise),
		HealthChecker: &corev3.HealthCheck_HttpHealthCheck_{HttpHealthCheck: &corev3.HealthCheck_HttpHealthCheck{
			Path:    "/v1/info",
			Receive: []*corev3.HealthCheck_Payload{{Payload: &corev3.HealthCheck_Payload_Text{Text: hex.EncodeToString([]byte(`"starting":false`))}}},
		}},
	}
}

// The typed configurations that are the same in every cluster or route,
// marshalled once: a fleet of 1,000 Trino clusters carries them 4,000
// times, and marshalling each again was part of every publication.
// (Resources only read them: go-control-plane and the hashing marshal
// them, nothing changes them.)
var (
	upstreamOptionsAnys   = [2]*anypb.Any{mustAny(upstreamOptions(false)), mustAny(upstreamOptions(true))}
	previousHostsAny      = mustAny(previousHosts())
	previousPrioritiesAny = mustAny(previousPriorities())
)

// upstreamOptionsAny is upstreamOptions(perAttemptPrefix) as an Any.
func upstreamOptionsAny(perAttemptPrefix bool) *anypb.Any {
	if perAttemptPrefix {
		return upstreamOptionsAnys[1]
	}
	return upstreamOptionsAnys[0]
}

func previousPriorities() *prevprioritiesv3.PreviousPrioritiesConfig {
	return &prevprioritiesv3.PreviousPrioritiesConfig{UpdateFrequency: 1}
}

func previousHosts() *prevhostsv3.PreviousHostsPredicate {
	return &prevhostsv3.PreviousHostsPredicate{}
}

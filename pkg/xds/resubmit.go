package xds

import (
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	aggregatev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/clusters/aggregate/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/switchyard-gw/switchyard/pkg/fleet"
)

// ResubmitCluster is the control planes' resubmission service (HTTP): it
// takes the polls a coordinator could not answer (pkg/resubmit).
const ResubmitCluster = "switchyard_resubmit"

// PollClusterName is where a coordinator's prefixed polls go when
// resubmission is on: an aggregate of the coordinator, then the
// resubmission service. Envoy moves a poll to the second when the
// coordinator refuses the connection, resets it before answering, answers
// 404 or 503 (it restarted and lost the query), or its health checks
// already failed; the service tries the coordinator once more, then runs
// the query again elsewhere if it may.
func PollClusterName(cluster, coordinator string) string {
	return CoordinatorClusterName(cluster, coordinator) + "_polls"
}

// resubmitCluster lists every replica's resubmission service.
func resubmitCluster(o Options) (*clusterv3.Cluster, error) {
	return serviceCluster(ResubmitCluster, o.ResubmitTargets)
}

// serviceCluster is an HTTP service of the control plane that Envoy
// forwards requests to, on every replica listed.
func serviceCluster(name string, targets []string) (*clusterv3.Cluster, error) {
	var lbs []*endpointv3.LbEndpoint
	for _, t := range targets {
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
		ConnectTimeout:       durationpb.New(time.Second),
		LoadAssignment: &endpointv3.ClusterLoadAssignment{
			ClusterName: name,
			Endpoints:   []*endpointv3.LocalityLbEndpoints{{LbEndpoints: lbs}},
		},
		TypedExtensionProtocolOptions: map[string]*anypb.Any{
			"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": upstreamOptionsAny(false),
		},
	}, nil
}

// pollCluster is the aggregate of one coordinator and the resubmission
// service.
func pollCluster(c fleet.Cluster, co fleet.Coordinator) *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:           PollClusterName(c.Name, co.Name),
		ConnectTimeout: durationpb.New(time.Second),
		LbPolicy:       clusterv3.Cluster_CLUSTER_PROVIDED,
		ClusterDiscoveryType: &clusterv3.Cluster_ClusterType{ClusterType: &clusterv3.Cluster_CustomClusterType{
			Name:        "envoy.clusters.aggregate",
			TypedConfig: mustAny(&aggregatev3.ClusterConfig{Clusters: []string{CoordinatorClusterName(c.Name, co.Name), ResubmitCluster}}),
		}},
		TypedExtensionProtocolOptions: map[string]*anypb.Any{
			"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": upstreamOptionsAny(false),
		},
	}
}

// pollRetryPolicy is the virtual host's policy (no answer at all) plus the
// answers of a coordinator that no longer knows the query: a poll is a
// GET or DELETE of a nextUri, safe to send again, and the retry moves on
// to the resubmission service.
func pollRetryPolicy() *routev3.RetryPolicy {
	p := retryPolicy()
	p.RetryOn += ",retriable-status-codes"
	p.RetriableStatusCodes = []uint32{404, 503}
	return p
}

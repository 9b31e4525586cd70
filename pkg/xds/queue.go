package xds

import (
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/switchyard-gw/switchyard/pkg/trino"
)

// QueueCluster is the control planes' queue service (HTTP): it answers
// the polls of queries waiting in the gateway's queue (pkg/queue).
const QueueCluster = "switchyard_queue"

// queueRoute sends the queue's URIs (/_sy/_queue/...) to the queue
// service on any replica: the queue lives in the shared store. A poll is
// held there up to a second and may submit the query, so the route allows
// the request timeout; a replica killed with a poll open gets the poll
// retried on another one (a queued poll is safe to repeat).
func queueRoute(o Options) *routev3.Route {
	return &routev3.Route{
		Name:  "queue",
		Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: trino.QueuePrefix + "/"}},
		Action: &routev3.Route_Route{Route: &routev3.RouteAction{
			ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: QueueCluster},
			Timeout:          durationpb.New(o.RequestTimeout),
			RetryPolicy:      retryPolicy(),
		}},
	}
}

// Package xds turns the fleet model into Envoy resources (a pure
// translation, golden-tested) and serves them to any number of Envoys over
// ADS with go-control-plane.
package xds

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/switchyard-gw/switchyard/pkg/fleet"
)

// Names of the resources Switchyard owns.
const (
	ListenerName     = "switchyard_http"
	RouteConfigName  = "switchyard_routes"
	ExtProcCluster   = "switchyard_extproc"
	ObserveCluster   = "switchyard_observe" // the answer observer's streams, to the same replicas
	RouteHeader      = "x-switchyard-route" // gateway-owned: set only by ext_proc
	ForwardedPrefix  = "x-forwarded-prefix"
	MetadataNS       = "switchyard"
	statementPrefix  = "/v1/statement"
	hcmStatPrefix    = "switchyard"
	upstreamIdleTime = 60 * time.Second
)

// Options are the gateway settings that shape the Envoy configuration.
type Options struct {
	ListenerAddress string // host:port
	MaxBodyBytes    uint32
	RequestTimeout  time.Duration
	ExtProcTargets  []string // host:port of ext_proc services
	ExtProcTimeout  time.Duration
	Health          HealthCheck
	// ExtAuthz puts the policy's authorization check (ext_authz) in front
	// of requests that are not query submissions or their polls.
	ExtAuthz bool
	// Resubmit sends the polls a coordinator cannot answer to the
	// resubmission service at ResubmitTargets (host:port of each replica).
	Resubmit        bool
	ResubmitTargets []string
	// QueueTargets are the queue service of every replica (host:port):
	// the polls of queries in the gateway's queue go there. Empty: no
	// queue route.
	QueueTargets []string
	// TLS opens the HTTPS listener too (nil: HTTP only).
	TLS *ListenerTLS
	// JWT verifies bearer tokens in Envoy (jwt_authn; nil: none).
	JWT *JWTProvider
	// ControlPlaneTLS: Envoy reaches the control plane's gRPC services
	// (ext_proc, ext_authz, the transaction log) over mutual TLS with the
	// certificate its bootstrap holds (switchyard bootstrap --tls-*).
	ControlPlaneTLS bool
	// StripCredentials removes the client's Authorization header from
	// every request to a cluster: the gateway verified it, and the
	// cluster gets the verified user in X-Trino-User.
	StripCredentials bool
}

// HealthCheck configures Envoy's active health checks of coordinators.
type HealthCheck struct {
	Interval, Timeout time.Duration
	Rise, Fall        uint32
}

// Resources is one consistent set of Envoy resources.
type Resources struct {
	Listeners []*listenerv3.Listener
	Routes    []*routev3.RouteConfiguration
	Clusters  []*clusterv3.Cluster
	Endpoints []*endpointv3.ClusterLoadAssignment
	Secrets   []*tlsv3.Secret
}

// SubmitClusterName is the Envoy cluster that takes new queries for a Trino
// cluster: every coordinator, standbys at a lower priority.
func SubmitClusterName(cluster string) string { return "trino_" + cluster }

// CoordinatorClusterName is the Envoy cluster of one coordinator, used by
// the follow-up requests of the queries it owns.
func CoordinatorClusterName(cluster, coordinator string) string {
	return "trino_" + cluster + "_" + coordinator
}

// Translate builds the Envoy resources for the fleet. It translates what it
// can: a cluster that cannot be translated is left out and reported in the
// joined error, and the rest of the fleet is still served. An error of the
// HTTP filter chain (registry.go) fails the whole translation.
func Translate(f *fleet.Fleet, o Options) (*Resources, error) {
	return translate(f, o, httpFilterOrder)
}

// translate is Translate with the HTTP filters of an order list.
func translate(f *fleet.Fleet, o Options, order []httpFilter) (*Resources, error) {
	chain, err := newFilterChain(order, o)
	if err != nil {
		return nil, fmt.Errorf("http filters: %w", err)
	}
	var errs []error
	r := &Resources{}
	l, err := buildListener(o, chain)
	if err != nil {
		return nil, fmt.Errorf("listener: %w", err)
	}
	r.Listeners = append(r.Listeners, l)
	if o.TLS != nil {
		tl, sec, err := tlsListener(l, o)
		if err != nil {
			return nil, fmt.Errorf("TLS listener: %w", err)
		}
		r.Listeners = append(r.Listeners, tl)
		r.Secrets = append(r.Secrets, sec)
	}

	ep, err := extProcCluster(o, ExtProcCluster)
	if err != nil {
		return nil, fmt.Errorf("ext_proc cluster: %w", err)
	}
	ob, err := extProcCluster(o, ObserveCluster)
	if err != nil {
		return nil, fmt.Errorf("observer cluster: %w", err)
	}
	r.Clusters = append(r.Clusters, ep, ob)
	tl, err := txLogClusters(o)
	if err != nil {
		return nil, fmt.Errorf("transaction log clusters: %w", err)
	}
	r.Clusters = append(r.Clusters, tl...)
	if o.ControlPlaneTLS {
		ep.TransportSocket = controlPlaneTransportSocket()
		ob.TransportSocket = controlPlaneTransportSocket()
		for _, c := range tl {
			c.TransportSocket = controlPlaneTransportSocket()
		}
	}
	if o.Resubmit {
		rs, err := resubmitCluster(o)
		if err != nil {
			return nil, fmt.Errorf("resubmission cluster: %w", err)
		}
		r.Clusters = append(r.Clusters, rs)
	}

	if len(o.QueueTargets) > 0 {
		qc, err := serviceCluster(QueueCluster, o.QueueTargets)
		if err != nil {
			return nil, fmt.Errorf("queue cluster: %w", err)
		}
		r.Clusters = append(r.Clusters, qc)
	}
	if o.ControlPlaneTLS {
		// The control plane's HTTP services (queue, resubmission) too.
		for _, c := range r.Clusters {
			if c.Name == QueueCluster || c.Name == ResubmitCluster {
				c.TransportSocket = controlPlaneTLS("http/1.1")
			}
		}
	}

	var good []fleet.Cluster
	for _, c := range f.Clusters {
		cs, eps, err := trinoClusters(c, f, o)
		if err != nil {
			errs = append(errs, fmt.Errorf("cluster %s: %w", c.Name, err))
			continue
		}
		r.Clusters = append(r.Clusters, cs...)
		r.Endpoints = append(r.Endpoints, eps...)
		good = append(good, c)
	}
	rc, err := buildRoutes(f, good, o, chain)
	if err != nil {
		return nil, fmt.Errorf("routes: %w", err)
	}
	r.Routes = append(r.Routes, rc)
	if err := chain.patchResources(r, o); err != nil {
		return nil, err
	}
	return r, errors.Join(errs...)
}

func splitHostPort(hp string) (string, uint32, error) {
	h, p, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("bad port in %q", hp)
	}
	return h, uint32(n), nil
}

func mustAny(m proto.Message) *anypb.Any {
	a := &anypb.Any{}
	// Deterministic, so equal configurations hash to equal versions.
	if err := anypb.MarshalFrom(a, m, proto.MarshalOptions{Deterministic: true}); err != nil {
		panic(err) // only for messages of known types
	}
	return a
}

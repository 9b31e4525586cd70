package xds

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// nodeGroup is the single snapshot key: every Envoy gets the same
// configuration, whatever its node ID.
const nodeGroup = "switchyard"

type sameForAll struct{}

func (sameForAll) ID(*corev3.Node) string { return nodeGroup }

// ResourceTypes are the type URLs of the resources the server serves.
var ResourceTypes = []string{resource.ListenerType, resource.RouteType, resource.ClusterType, resource.EndpointType, resource.SecretType}

// Server serves translated resources over ADS to any number of Envoys.
type Server struct {
	cache   cachev3.SnapshotCache
	log     *slog.Logger
	mu      sync.Mutex
	metrics Metrics

	// What the connected Envoys run (see Envoys).
	envoysMu sync.Mutex
	streams  map[int64]*stream
	version  string    // the current snapshot's
	pushed   time.Time // when it was set
}

// stream is one connected Envoy: its node ID and, per resource type it
// asked for, the version it last applied.
type stream struct {
	node    string
	applied map[string]string
}

// Envoy is what one connected Envoy runs.
type Envoy struct {
	Node string `json:"node"`
	// Applied is the snapshot version the Envoy last applied, by resource
	// type ("" before it applied any).
	Applied map[string]string `json:"applied"`
	// Current: it applied the current snapshot for every type it asked
	// for. Behind is how long the current snapshot has waited when not.
	Current bool          `json:"current"`
	Behind  time.Duration `json:"behind,omitempty"`
}

// Envoys lists the Envoys connected to this server (one per ADS stream)
// and whether they run the current configuration, with the current
// snapshot's version and when it was published.
func (s *Server) Envoys() (list []Envoy, version string, pushed time.Time) {
	s.envoysMu.Lock()
	defer s.envoysMu.Unlock()
	now := time.Now()
	for _, st := range s.streams {
		e := Envoy{Node: st.node, Applied: make(map[string]string, len(st.applied)), Current: len(st.applied) > 0}
		for t, v := range st.applied {
			e.Applied[shortType(t)] = v
			if v != s.version {
				e.Current = false
			}
		}
		if !e.Current && !s.pushed.IsZero() {
			e.Behind = now.Sub(s.pushed)
		}
		list = append(list, e)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Node < list[j].Node })
	return list, s.version, s.pushed
}

// shortType names a resource type by its message (Cluster, Listener, ...).
func shortType(typeURL string) string {
	if i := strings.LastIndexByte(typeURL, '.'); i >= 0 {
		return typeURL[i+1:]
	}
	return typeURL
}

// Metrics are the xDS counters the server updates; nil fields are skipped.
type Metrics struct {
	Pushes func()               // a new snapshot was set
	Nacks  func(typeURL string) // an Envoy rejected a configuration
	Conns  func(delta int)      // ADS streams opened (+1) and closed (-1)
}

// NewServer returns a server with an empty snapshot.
func NewServer(log *slog.Logger, m Metrics) *Server {
	return &Server{cache: cachev3.NewSnapshotCache(true, sameForAll{}, slogAdapter{log}), log: log, metrics: m}
}

// Update publishes a new consistent snapshot to every Envoy.
func (s *Server) Update(ctx context.Context, r *Resources) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, err := contentVersion(r)
	if err != nil {
		return "", err
	}
	snap, err := cachev3.NewSnapshot(v, map[resource.Type][]types.Resource{
		resource.ListenerType: toResources(r.Listeners),
		resource.RouteType:    toResources(r.Routes),
		resource.ClusterType:  toResources(r.Clusters),
		resource.EndpointType: toResources(r.Endpoints),
		resource.SecretType:   toResources(r.Secrets),
	})
	if err != nil {
		return "", err
	}
	if err := snap.Consistent(); err != nil {
		return "", fmt.Errorf("inconsistent snapshot: %w", err)
	}
	if err := s.cache.SetSnapshot(ctx, nodeGroup, snap); err != nil {
		return "", err
	}
	s.envoysMu.Lock()
	if v != s.version {
		s.version, s.pushed = v, time.Now()
	}
	s.envoysMu.Unlock()
	if s.metrics.Pushes != nil {
		s.metrics.Pushes()
	}
	return v, nil
}

// contentVersion names a snapshot by a hash of its content: the same fleet
// gives the same version on every replica and across restarts (an Envoy that
// reconnects to a restarted control plane is not fooled by a reused counter),
// and any change gives a new one.
func contentVersion(r *Resources) (string, error) {
	h := sha256.New()
	opts := proto.MarshalOptions{Deterministic: true}
	var all []proto.Message
	for _, x := range r.Listeners {
		all = append(all, x)
	}
	for _, x := range r.Routes {
		all = append(all, x)
	}
	for _, x := range r.Clusters {
		all = append(all, x)
	}
	for _, x := range r.Endpoints {
		all = append(all, x)
	}
	for _, x := range r.Secrets {
		all = append(all, x)
	}
	for _, m := range all {
		b, err := opts.Marshal(m)
		if err != nil {
			return "", err
		}
		_, _ = h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func toResources[T types.Resource](in []T) []types.Resource {
	out := make([]types.Resource, len(in))
	for i, r := range in {
		out[i] = r
	}
	return out
}

// Register adds the ADS service to a gRPC server.
func (s *Server) Register(ctx context.Context, g *grpc.Server) {
	cb := serverv3.CallbackFuncs{
		StreamOpenFunc: func(_ context.Context, id int64, _ string) error {
			if s.metrics.Conns != nil {
				s.metrics.Conns(1)
			}
			s.envoysMu.Lock()
			if s.streams == nil {
				s.streams = map[int64]*stream{}
			}
			s.streams[id] = &stream{applied: map[string]string{}}
			s.envoysMu.Unlock()
			return nil
		},
		StreamClosedFunc: func(id int64, node *corev3.Node) {
			if s.metrics.Conns != nil {
				s.metrics.Conns(-1)
			}
			s.envoysMu.Lock()
			delete(s.streams, id)
			s.envoysMu.Unlock()
			s.log.Info("envoy disconnected", "stream", id, "node", node.GetId())
		},
		StreamRequestFunc: func(id int64, req *discoveryv3.DiscoveryRequest) error {
			// A request's version_info is the version the Envoy last
			// applied for the type, with an ACK as with a NACK.
			s.envoysMu.Lock()
			if st := s.streams[id]; st != nil {
				if n := req.GetNode().GetId(); n != "" {
					st.node = n
				}
				if len(st.applied) < 16 { // the xDS types; a stream asks for a handful
					st.applied[req.GetTypeUrl()] = req.GetVersionInfo()
				} else if _, ok := st.applied[req.GetTypeUrl()]; ok {
					st.applied[req.GetTypeUrl()] = req.GetVersionInfo()
				}
			}
			s.envoysMu.Unlock()
			if e := req.GetErrorDetail(); e != nil {
				s.log.Error("envoy rejected configuration (NACK)", "node", req.GetNode().GetId(),
					"type", req.GetTypeUrl(), "version", req.GetVersionInfo(), "error", e.GetMessage())
				if s.metrics.Nacks != nil {
					s.metrics.Nacks(req.GetTypeUrl())
				}
			}
			return nil
		},
	}
	srv := serverv3.NewServer(ctx, s.cache, cb)
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(g, srv)
}

// Snapshot returns the current snapshot (for tests and the admin API).
func (s *Server) Snapshot() (cachev3.ResourceSnapshot, error) {
	return s.cache.GetSnapshot(nodeGroup)
}

type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Debugf(f string, args ...any) { a.l.Debug(fmt.Sprintf(f, args...)) }
func (a slogAdapter) Infof(f string, args ...any)  { a.l.Debug(fmt.Sprintf(f, args...)) }
func (a slogAdapter) Warnf(f string, args ...any)  { a.l.Warn(fmt.Sprintf(f, args...)) }
func (a slogAdapter) Errorf(f string, args ...any) { a.l.Error(fmt.Sprintf(f, args...)) }

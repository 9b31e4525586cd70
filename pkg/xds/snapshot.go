package xds

import (
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

// sharedSnapshot is a snapshot whose resources by type are gathered once.
// go-control-plane's Snapshot builds a new map of a type's resources on
// every GetResources, and its cache calls that for every Envoy's delta
// watch of every type, on every change (all in one pass, under the
// cache's lock) and on every ACK: with 50 Envoys and 4,005 clusters, a
// quarter of a change's control-plane time went to those copies. The
// maps are only read.
type sharedSnapshot struct {
	*cachev3.Snapshot
	byType map[string]map[string]types.Resource
}

// snapshotTypes are the types Update puts in a snapshot.
var snapshotTypes = []resource.Type{resource.ListenerType, resource.RouteType, resource.ClusterType, resource.EndpointType, resource.SecretType}

func shareResources(s *cachev3.Snapshot) *sharedSnapshot {
	out := &sharedSnapshot{Snapshot: s, byType: make(map[string]map[string]types.Resource, len(snapshotTypes))}
	for _, t := range snapshotTypes {
		out.byType[t] = s.GetResources(t)
	}
	return out
}

// GetResources is the type's resources by name, shared by every caller.
func (s *sharedSnapshot) GetResources(typeURL string) map[string]types.Resource {
	if m, ok := s.byType[typeURL]; ok {
		return m
	}
	return s.Snapshot.GetResources(typeURL)
}

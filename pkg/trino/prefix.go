package trino

import "strings"

// RoutePrefix is the first path segment of the per-coordinator prefix that
// the gateway asks coordinators to put in front of every URI they build
// (through X-Forwarded-Prefix). Follow-up requests carrying
// /_sy/{cluster}/{coordinator}/ are routed by Envoy by path alone.
const RoutePrefix = "/_sy/"

// CoordinatorPrefix is the X-Forwarded-Prefix value for one coordinator.
func CoordinatorPrefix(cluster, coordinator string) string {
	return RoutePrefix + cluster + "/" + coordinator
}

// ParseCoordinatorPrefix extracts cluster and coordinator from a request path
// that starts with the gateway prefix; rest is the path after the prefix.
// ok is false when the path has no complete prefix.
func ParseCoordinatorPrefix(path string) (cluster, coordinator, rest string, ok bool) {
	if !strings.HasPrefix(path, RoutePrefix) {
		return "", "", "", false
	}
	s := path[len(RoutePrefix):]
	cluster, s, ok1 := strings.Cut(s, "/")
	coordinator, rest, ok2 := strings.Cut(s, "/")
	if !ok1 || !ok2 || cluster == "" || coordinator == "" {
		return "", "", "", false
	}
	return cluster, coordinator, "/" + rest, true
}

package policy

import (
	"time"
)

// InputVersion is the version of the input document the policy receives.
// It changes only with an incompatible change; fields may be added.
const InputVersion = 1

// Input is what the routing policy sees about a query submission
// (input.* in Rego). docs/policy.md documents every field.
type Input struct {
	Request RequestInfo
	Query   QueryInfo
	Fleet   FleetInfo
	Time    time.Time
}

// RequestInfo is the identity and the session of the request.
type RequestInfo struct {
	User          string
	Source        string
	ClientTags    []string
	ClientInfo    string
	Catalog       string
	Schema        string
	Session       map[string]string // X-Trino-Session properties
	RoutingGroup  string            // X-Trino-Routing-Group, as sent
	TransactionID string
	RemoteAddress string
	Method, Path  string
}

// QueryInfo is the SQL as Switchyard classified it.
type QueryInfo struct {
	Type       string
	Tables     []string
	TableInfo  map[string]any // metadata of the referenced tables (data.switchyard.tables)
	CrossJoin  bool
	HasWhere   bool
	HasLimit   bool
	Explain    string
	InnerType  string
	Unresolved []string
	Length     int // bytes of SQL text
	Cost       map[string]any
}

// FleetInfo is the fleet as routing sees it.
type FleetInfo struct {
	DefaultGroup string
	Groups       map[string]GroupInfo
	Clusters     map[string]ClusterInfo
}

// GroupInfo is one routing group.
type GroupInfo struct {
	Clusters []string
	Strategy string
}

// ClusterInfo is one cluster.
type ClusterInfo struct {
	Group   string
	State   string
	Healthy bool
	Tags    []string
	Weight  int
	Running int
	Queued  int
}

func strs(in []string) []any {
	out := make([]any, len(in))
	for i, s := range in {
		out[i] = s
	}
	return out
}

// value renders the input as the plain map OPA converts without
// reflection.
func (in *Input) value() map[string]any {
	session := map[string]any{}
	for k, v := range in.Request.Session {
		session[k] = v
	}
	groups := map[string]any{}
	for name, g := range in.Fleet.Groups {
		groups[name] = map[string]any{"clusters": strs(g.Clusters), "strategy": g.Strategy}
	}
	clusters := map[string]any{}
	for name, c := range in.Fleet.Clusters {
		clusters[name] = map[string]any{
			"group": c.Group, "state": c.State, "healthy": c.Healthy, "tags": strs(c.Tags),
			"weight": c.Weight, "load": map[string]any{"running": c.Running, "queued": c.Queued},
		}
	}
	tableInfo := map[string]any{}
	for k, v := range in.Query.TableInfo {
		tableInfo[k] = v
	}
	q := map[string]any{
		"type": in.Query.Type, "tables": strs(in.Query.Tables), "tableInfo": tableInfo,
		"crossJoin": in.Query.CrossJoin, "hasWhere": in.Query.HasWhere, "hasLimit": in.Query.HasLimit,
		"explain": in.Query.Explain, "innerType": in.Query.InnerType, "unresolved": strs(in.Query.Unresolved),
		"length": in.Query.Length,
	}
	if in.Query.Cost != nil {
		q["cost"] = in.Query.Cost
	}
	t := in.Time.UTC()
	return map[string]any{
		"version": InputVersion,
		"request": map[string]any{
			"user": in.Request.User, "source": in.Request.Source, "clientTags": strs(in.Request.ClientTags),
			"clientInfo": in.Request.ClientInfo, "catalog": in.Request.Catalog, "schema": in.Request.Schema,
			"session": session, "routingGroup": in.Request.RoutingGroup, "transactionId": in.Request.TransactionID,
			"remoteAddress": in.Request.RemoteAddress, "method": in.Request.Method, "path": in.Request.Path,
		},
		"query": q,
		"fleet": map[string]any{"defaultGroup": in.Fleet.DefaultGroup, "groups": groups, "clusters": clusters},
		"time": map[string]any{
			"unix": t.Unix(), "rfc3339": t.Format(time.RFC3339), "weekday": t.Weekday().String(), "hour": t.Hour(),
		},
	}
}

// AuthzInput is what the authorization policy sees about a request that is
// not a query submission (UI, /v1/query, kill, server info).
type AuthzInput struct {
	User          string
	Method, Path  string
	QueryID       string // of the query the path names, if any
	QueryOwner    string // the user who submitted it, when known
	RemoteAddress string
	Time          time.Time
}

func (in *AuthzInput) value() map[string]any {
	return map[string]any{
		"version": InputVersion,
		"request": map[string]any{"user": in.User, "method": in.Method, "path": in.Path, "remoteAddress": in.RemoteAddress},
		"query":   map[string]any{"id": in.QueryID, "owner": in.QueryOwner},
		"time":    map[string]any{"unix": in.Time.Unix(), "rfc3339": in.Time.UTC().Format(time.RFC3339)},
	}
}

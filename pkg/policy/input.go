package policy

import (
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
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
	// FleetValue, when set, is Fleet already converted (NewFleetValue).
	FleetValue *FleetValue
	// External is the external routing service's answer, if one is
	// configured.
	External *ExternalInfo
	// ClientSession is the client session the statement belongs to, when
	// session affinity is on (input.clientSession).
	ClientSession *ClientSessionInfo
	Time          time.Time

	// value is the input as OPA reads it, built on first use: an Input
	// must not change once evaluated.
	value ast.Value
}

// ClientSessionInfo is a client session as the gateway knows it.
type ClientSessionInfo struct {
	ID string
	// Source: "header" (the client named it), "gateway" (the ID the
	// gateway handed out) or "new" (its first statement).
	Source string
	// Clusters maps a routing group to the cluster the session is pinned
	// to in it.
	Clusters map[string]string
}

// ExternalInfo is what the external routing service said.
type ExternalInfo struct {
	RoutingGroup string
	Headers      map[string]string
	Errors       []string // from the service, or the call's failure
}

// RequestInfo is the identity and the session of the request.
type RequestInfo struct {
	// User is the user the query runs as; Principal is the identity the
	// gateway verified (empty without authentication). They differ only
	// where data.switchyard.identity allowed the principal to impersonate.
	User          string
	Principal     string
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
	// Blocks are the query blocks with their findings (joins and their
	// inputs, WHERE, LIMIT, cross joins); FullScans the tables read by a
	// block without WHERE or LIMIT.
	Blocks    []Block
	FullScans []string
	// Fingerprint identifies the statement's shape (sqlclass.Fingerprint);
	// Incidents are what happened to it before, newest first (query
	// protection's memory).
	Fingerprint string
	Incidents   []Incident
}

// Block is one query block of the statement (sqlclass.Block).
type Block struct {
	Tables    []string
	Inputs    [][]string
	Where     bool
	Limit     bool
	CrossJoin bool
}

// Incident is an earlier failure, watchdog kill or quarantine of the same
// fingerprint.
type Incident struct {
	Kind      string // failure, killed, quarantine
	Reason    string
	ErrorName string
	QueryID   string
	User      string
	Cluster   string
	Time      time.Time
	Until     time.Time // quarantine: until when (zero otherwise)
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

// AuthzInput is what the authorization policy sees about a request that is
// not a query submission (UI, /v1/query, kill, server info).
type AuthzInput struct {
	// User is the user the request runs as; Principal the identity the
	// gateway verified (empty without authentication).
	User          string
	Principal     string
	Method, Path  string
	QueryID       string // of the query the path names, if any
	QueryOwner    string // the user who submitted it, when known
	RemoteAddress string
	Time          time.Time
}

func (in *AuthzInput) value() map[string]any {
	return map[string]any{
		"version": InputVersion,
		"request": map[string]any{"user": in.User, "principal": in.Principal, "method": in.Method, "path": in.Path, "remoteAddress": in.RemoteAddress},
		"query":   map[string]any{"id": in.QueryID, "owner": in.QueryOwner},
		"time":    map[string]any{"unix": in.Time.Unix(), "rfc3339": in.Time.UTC().Format(time.RFC3339)},
	}
}

// ImpersonationInput asks whether Principal may run as User
// (data.switchyard.identity.decision).
type ImpersonationInput struct {
	Principal string
	User      string
	// Method is how the principal was verified: "password" or "jwt".
	Method string
	Time   time.Time
}

func (in *ImpersonationInput) value() map[string]any {
	return map[string]any{
		"version":   InputVersion,
		"principal": in.Principal,
		"user":      in.User,
		"method":    in.Method,
		"time":      map[string]any{"unix": in.Time.Unix(), "rfc3339": in.Time.UTC().Format(time.RFC3339)},
	}
}

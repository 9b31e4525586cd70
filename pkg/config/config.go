// Package config reads and validates the switchyard configuration file.
//
// Loading is three steps: defaults, strict YAML decoding (unknown fields are
// errors), then Validate, whose messages name the offending field.
package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole configuration file.
type Config struct {
	Listener     Listener     `yaml:"listener"`
	ControlPlane ControlPlane `yaml:"controlPlane"`
	Store        Store        `yaml:"store"`
	Routing      Routing      `yaml:"routing"`
	Health       Health       `yaml:"health"`
	Admin        Admin        `yaml:"admin"`
	Policy       Policy       `yaml:"policy"`
	Governance   Governance   `yaml:"governance"`
	Events       Events       `yaml:"events"`
	Protection   Protection   `yaml:"protection"`
	AutoRecovery AutoRecovery `yaml:"autoRecovery"`
	Console      Console      `yaml:"console"`
	Groups       []Group      `yaml:"groups"`
	Clusters     []Cluster    `yaml:"clusters"`

	// CoordinatorAPI is the client for the coordinators' REST APIs.
	CoordinatorAPI CoordinatorAPI `yaml:"coordinatorAPI"`
}

// Listener is the Envoy client listener that Switchyard configures over xDS.
type Listener struct {
	// Address is host:port of the client listener (default 0.0.0.0:8080).
	Address string `yaml:"address"`
	// MaxBodyBytes bounds the SQL text of a submission (default 1 MiB).
	MaxBodyBytes int `yaml:"maxBodyBytes"`
	// RequestTimeout bounds one upstream request of the Trino protocol
	// (default 60s); Trino answers every request within seconds.
	RequestTimeout time.Duration `yaml:"requestTimeout"`
	// TLS serves clients over HTTPS too (nil: HTTP only). The plain HTTP
	// address stays open for local use; credentials sent over it are
	// refused, as Trino refuses them.
	TLS *ListenerTLS `yaml:"tls"`
	// Authentication verifies who sends each request (nil: the gateway
	// trusts X-Trino-User as sent).
	Authentication *Authentication `yaml:"authentication"`
	// RefreshPeriod is how often the files of TLS and authentication are
	// checked for changes (default 5s, Trino's file.refresh-period).
	RefreshPeriod time.Duration `yaml:"refreshPeriod"`
}

// ListenerTLS is the HTTPS side of the client listener.
type ListenerTLS struct {
	// Address is host:port of the HTTPS listener (must differ from
	// listener.address).
	Address string `yaml:"address"`
	// CertFile and KeyFile are the PEM certificate (with its chain) and
	// private key. The control plane reads them and hands them to every
	// Envoy (SDS), again whenever they change.
	CertFile string `yaml:"certFile"`
	KeyFile  string `yaml:"keyFile"`
}

// Authentication of clients on the data path. Password and JWT may be
// combined (a request carries one or the other); either makes
// credentials required on every request the gateway decides.
type Authentication struct {
	// Password checks HTTP Basic credentials against a password file in
	// the format of Trino's file authenticator.
	Password *PasswordAuthentication `yaml:"password"`
	// JWT verifies bearer tokens in Envoy (jwt_authn).
	JWT *JWTAuthentication `yaml:"jwt"`
	// AllowInsecureHTTP accepts requests without credentials on the plain
	// HTTP address, trusting X-Trino-User there (Trino's insecure
	// authenticator; for local use: policy and governance see the header).
	// Credentials over plain HTTP are refused either way.
	AllowInsecureHTTP bool `yaml:"allowInsecureHTTP"`
	// PassThrough forwards the client's credentials untouched and lets the
	// clusters authenticate them. Alone, the gateway does not know who
	// asks: policy and governance see X-Trino-User as sent.
	PassThrough bool `yaml:"passThrough"`
	// Forward is what a cluster receives: "user" (default without
	// passThrough: X-Trino-User is the verified user and the credentials
	// are removed, for clusters that trust the gateway) or "credentials"
	// (the client's Authorization header as sent; the default with
	// passThrough).
	Forward string `yaml:"forward"`
}

// Values of Authentication.Forward.
const (
	ForwardUser        = "user"
	ForwardCredentials = "credentials"
)

// PasswordAuthentication is a Trino-format password file.
type PasswordAuthentication struct {
	// File is the password file (user:bcrypt-or-PBKDF2-hash lines), read
	// again when it changes.
	File string `yaml:"file"`
	// CacheSize bounds the cache of checked credentials (default 1000;
	// bcrypt is slow on purpose, and every Trino request carries them).
	CacheSize int `yaml:"cacheSize"`
}

// JWTAuthentication configures bearer tokens.
type JWTAuthentication struct {
	// Issuer is the required iss claim.
	Issuer string `yaml:"issuer"`
	// Audiences: the aud claim must name one of them (empty: not checked).
	Audiences []string `yaml:"audiences"`
	// JWKSFile is a JSON Web Key Set file, read again when it changes; or
	// JWKSURL, an https:// URL Envoy fetches the keys from (with
	// JWKSCAFile the CA bundle its certificate must chain to, default the
	// system's).
	JWKSFile   string        `yaml:"jwksFile"`
	JWKSURL    string        `yaml:"jwksURL"`
	JWKSCAFile string        `yaml:"jwksCAFile"`
	JWKSCache  time.Duration `yaml:"jwksCache"` // how long fetched keys are kept (default 10m)
	// PrincipalClaim names the claim holding the user (default "sub").
	PrincipalClaim string `yaml:"principalClaim"`
}

// ControlPlane holds the addresses the switchyard process listens on.
type ControlPlane struct {
	AdminAddress string `yaml:"adminAddress"` // HTTP admin, metrics, health (default 127.0.0.1:9080)
	// AdminTLS serves the admin address over HTTPS from these files,
	// reloaded when they change (nil: plain HTTP, for a loopback address).
	AdminTLS *TLSFiles `yaml:"adminTLS"`
	// GRPCTLS serves the xDS and ext_proc ports over mutual TLS from these
	// files, reloaded when they change: an Envoy (or anything else) without
	// a client certificate from ClientCAFile gets nothing (nil: plaintext,
	// for addresses only Envoy can reach). Envoys then need the matching
	// client certificate: switchyard bootstrap --tls-cert/--tls-key/--tls-ca.
	GRPCTLS        *TLSFiles `yaml:"grpcTLS"`
	XDSAddress     string    `yaml:"xdsAddress"`     // ADS gRPC (default 127.0.0.1:18000)
	ExtProcAddress string    `yaml:"extProcAddress"` // ext_proc gRPC (default 127.0.0.1:18001)
	// ExtProcTargets are the host:port addresses Envoys use to reach ext_proc
	// services; default is ExtProcAddress. List every replica to let each
	// Envoy use all of them.
	ExtProcTargets []string `yaml:"extProcTargets"`
	// ResubmitAddress serves Envoy's fallback for polls of a query whose
	// coordinator cannot be reached: transparent resubmission (HTTP;
	// default 127.0.0.1:18002).
	ResubmitAddress string `yaml:"resubmitAddress"`
	// ResubmitTargets are the host:port addresses Envoys use to reach it;
	// default is ResubmitAddress. List every replica, like ExtProcTargets.
	ResubmitTargets []string `yaml:"resubmitTargets"`
	// QueueAddress serves the polls of queries waiting in the gateway's
	// queue (workload governance; HTTP; default 127.0.0.1:18003).
	QueueAddress string `yaml:"queueAddress"`
	// QueueTargets are the host:port addresses Envoys use to reach it;
	// default is QueueAddress. List every replica, like ExtProcTargets.
	QueueTargets []string `yaml:"queueTargets"`
	// ExtProcTimeout bounds each ext_proc message exchange (default 1s).
	ExtProcTimeout time.Duration `yaml:"extProcTimeout"`
	// Pprof serves Go profiles under /debug/pprof/ on the admin address.
	Pprof bool `yaml:"pprof"`
	// LeaseTTL is how long the replica doing once-per-fleet work (the
	// reconciler of drains and failovers) holds its lease without renewing
	// it: how long the fleet waits for a replica that died (default 10s).
	LeaseTTL time.Duration `yaml:"leaseTTL"`
}

// Store selects the shared state backend.
type Store struct {
	// Type is "redis" (shared by replicas) or "memory" (single instance).
	Type  string `yaml:"type"`
	Redis Redis  `yaml:"redis"`
	// QueryTTL is how long a query-ID to cluster mapping lives (default 24h).
	QueryTTL time.Duration `yaml:"queryTTL"`
}

// Redis is the Redis connection.
type Redis struct {
	// Mode is standalone (default: one server at Address), sentinel (a
	// primary that Sentinel fails over: MasterName and the sentinels'
	// Addresses) or cluster (Redis Cluster: seed nodes in Addresses).
	Mode string `yaml:"mode"`
	// Address is the server in standalone mode.
	Address string `yaml:"address"`
	// Addresses are the sentinels (sentinel mode) or seed nodes (cluster).
	Addresses []string `yaml:"addresses"`
	// MasterName is the primary's name in Sentinel.
	MasterName string `yaml:"masterName"`
	// SentinelUsername and SentinelPassword authenticate to the sentinels.
	SentinelUsername string `yaml:"sentinelUsername"`
	SentinelPassword string `yaml:"sentinelPassword"`
	Username         string `yaml:"username"`
	Password         string `yaml:"password"`
	// PasswordEnv and SentinelPasswordEnv name environment variables that
	// hold the passwords, to keep them out of the file.
	PasswordEnv         string `yaml:"passwordEnv"`
	SentinelPasswordEnv string `yaml:"sentinelPasswordEnv"`
	DB                  int    `yaml:"db"`
	// Timeout bounds each Redis call on the request path (default 200ms).
	Timeout time.Duration `yaml:"timeout"`
	// KeyPrefix namespaces every key (default "sy:"); no braces: the
	// store's keys carry their own Redis Cluster hash tags.
	KeyPrefix string `yaml:"keyPrefix"`
}

// Routing holds fleet-wide routing settings.
type Routing struct {
	// DefaultGroup receives queries that name no routing group.
	DefaultGroup string `yaml:"defaultGroup"`
	// ExternalRouter is an optional routing service asked for every
	// submission.
	ExternalRouter ExternalRouter `yaml:"externalRouter"`
	// Cost gives the policy EXPLAIN estimates (off by default).
	Cost Cost `yaml:"cost"`
	// Resubmission runs a read-only query again on another cluster of its
	// group when its coordinator dies before the client fetched results.
	Resubmission Resubmission `yaml:"resubmission"`
	// Sessions configures client sessions (session affinity is per group:
	// groups[].sessionAffinity).
	Sessions Sessions `yaml:"sessions"`
}

// Sessions configures how client sessions are kept on their clusters.
type Sessions struct {
	// IdleTTL: a session with no statement for this long starts afresh on
	// its next one (default 1h).
	IdleTTL time.Duration `yaml:"idleTTL"`
	// WebUIIdleTTL: a web UI login through the gateway unused this long
	// ends (default 8h).
	WebUIIdleTTL time.Duration `yaml:"webUIIdleTTL"`
}

// Resubmission configures transparent resubmission: a SELECT, SHOW,
// DESCRIBE or EXPLAIN whose coordinator became unreachable before the
// client read any results is submitted again to another healthy cluster
// of its group, and the client's next poll continues with the new query.
type Resubmission struct {
	// Enabled turns it on (default true).
	Enabled *bool `yaml:"enabled"`
	// MaxQueryBytes: longer statements are not kept for resubmission
	// (default 262144).
	MaxQueryBytes int `yaml:"maxQueryBytes"`
	// MaxAttempts bounds the resubmissions of one client query (default 2).
	MaxAttempts int `yaml:"maxAttempts"`
	// ProbeTimeout bounds the gateway's own try of the coordinator before
	// it resubmits (Envoy may have given up on a coordinator that is only
	// slow; default 2s).
	ProbeTimeout time.Duration `yaml:"probeTimeout"`
}

// On reports whether resubmission is enabled.
func (r Resubmission) On() bool { return r.Enabled == nil || *r.Enabled }

// Cost configures cost-based routing: Switchyard runs
// EXPLAIN (TYPE IO, FORMAT JSON) on a designated cluster for each SELECT,
// INSERT and CREATE TABLE AS, and the policy reads input.query.cost.
type Cost struct {
	Enabled bool `yaml:"enabled"`
	// Cluster runs the EXPLAINs (it must know the same catalogs).
	Cluster string `yaml:"cluster"`
	// Timeout bounds one estimate (default 2s); a query whose estimate
	// times out is routed without one.
	Timeout time.Duration `yaml:"timeout"`
	// CacheTTL and CacheSize bound the cache of estimates, keyed by the
	// normalised SQL and the session's catalog and schema (defaults 10m,
	// 10000).
	CacheTTL  time.Duration `yaml:"cacheTTL"`
	CacheSize int           `yaml:"cacheSize"`
}

// ExternalRouter configures the external routing service.
type ExternalRouter struct {
	// URL is grpc://host:port (proto/switchyard/router/v1) or
	// http(s)://host/path (Trino Gateway's JSON shape); empty: none.
	URL string `yaml:"url"`
	// Timeout bounds each call (default 200ms).
	Timeout time.Duration `yaml:"timeout"`
	// FailClosed refuses the query when the service fails or times out;
	// by default the query is routed without its answer.
	FailClosed bool `yaml:"failClosed"`
}

// Health configures the coordinator health poller.
type Health struct {
	Interval      time.Duration `yaml:"interval"`      // between checks (default 2s)
	Timeout       time.Duration `yaml:"timeout"`       // per check (default 1s)
	FallThreshold int           `yaml:"fallThreshold"` // consecutive failures to mark down (default 3)
	RiseThreshold int           `yaml:"riseThreshold"` // consecutive successes to mark up (default 2)
}

// Group is a routing group.
type Group struct {
	Name string `yaml:"name"`
	// Strategy picks a cluster within the group: round-robin (default),
	// least-loaded, weighted or affinity.
	Strategy string `yaml:"strategy"`
	// Fallback is the group that takes the group's queries when none of its
	// clusters is healthy; empty means strict isolation (a clear error).
	Fallback string `yaml:"fallback"`
	// SessionAffinity keeps each client session's statements on the
	// cluster its first statement went to (default true; false balances
	// every statement on its own).
	SessionAffinity *bool `yaml:"sessionAffinity"`
}

// Affinity reports whether the group keeps client sessions on one cluster.
func (g Group) Affinity() bool { return g.SessionAffinity == nil || *g.SessionAffinity }

// Cluster is one Trino cluster, as the configuration file seeds it and the
// admin API adds or updates it.
type Cluster struct {
	Name         string        `yaml:"name" json:"name"`
	Group        string        `yaml:"group" json:"group"`
	Coordinators []Coordinator `yaml:"coordinators" json:"coordinators"`
	// Weight is the cluster's share within its group for the weighted
	// strategy (default 100; 0 takes no new queries).
	Weight *int `yaml:"weight" json:"weight,omitempty"`
	// Failback: when the active coordinator returns after a failover, new
	// queries move back to it (default true). With false they stay on the
	// coordinator that took over until it fails in turn.
	Failback *bool `yaml:"failback" json:"failback,omitempty"`
	// State is the initial lifecycle state when the fleet is seeded:
	// active (default) or inactive.
	State string `yaml:"state" json:"state,omitempty"`
	// Tags describe the cluster to policy (e.g. "secure" for clusters
	// allowed to read sensitive tables).
	Tags []string `yaml:"tags" json:"tags,omitempty"`
}

// Coordinator is one coordinator of a cluster.
type Coordinator struct {
	// Name identifies the coordinator inside its cluster; default is its
	// position ("0", "1", ...). It appears in the URIs clients follow.
	Name string `yaml:"name" json:"name,omitempty"`
	URL  string `yaml:"url" json:"url"`
	// Role is active (default) or standby.
	Role string `yaml:"role" json:"role,omitempty"`
}

// TLSFiles names the PEM files of an endpoint. They are read when the
// control plane starts and again whenever they change (a rotation that
// does not load keeps the previous files in force).
type TLSFiles struct {
	// CertFile and KeyFile are the endpoint's certificate (with its
	// chain) and private key.
	CertFile string `yaml:"certFile"`
	KeyFile  string `yaml:"keyFile"`
	// ClientCAFile, when set, is the CA bundle a client's certificate
	// must chain to (mutual TLS): a client without one gets nothing.
	ClientCAFile string `yaml:"clientCAFile"`
}

// Admin configures the admin API.
type Admin struct {
	// Tokens are the bearer tokens the admin API accepts. Without any,
	// every /api/ endpoint answers 401.
	Tokens []Token `yaml:"tokens"`
	// DrainTimeout is the default time a drain may take (default 1h).
	DrainTimeout time.Duration `yaml:"drainTimeout"`
	// ShutdownWorkers asks the workers of a drained cluster to shut down
	// gracefully (PUT /v1/info/state "SHUTTING_DOWN"); default false.
	ShutdownWorkers bool `yaml:"shutdownWorkers"`
}

// Policy configures the routing and authorization policy (Rego).
type Policy struct {
	// Dir holds the policy: *.rego modules (with their *_test.rego tests)
	// and data documents (*.json, *.yaml). Empty: no policy; queries go to
	// the group X-Trino-Routing-Group names, else the default group.
	Dir string `yaml:"dir"`
	// Watch reloads the policy when its files change (default true).
	Watch *bool `yaml:"watch"`
	// DecisionLogSize is how many recent decisions the admin API keeps
	// (default 1000); every decision is also logged.
	DecisionLogSize int `yaml:"decisionLogSize"`
}

// Token is one admin API credential. The file never holds the token
// itself: either its SHA-256 (TokenHash) or the name of an environment
// variable that holds it (TokenEnv).
type Token struct {
	// Name identifies the holder in logs and the audit log (the token
	// itself is never logged).
	Name string `yaml:"name"`
	// TokenHash is "sha256:" and the token's SHA-256 in hex (`switchyard
	// token new` makes a token and its hash, `switchyard token hash`
	// hashes one).
	TokenHash string `yaml:"tokenHash"`
	// TokenEnv names an environment variable holding the token; its
	// hash is computed when the configuration is read.
	TokenEnv string `yaml:"tokenEnv"`
	// Token is refused: a token in the clear does not belong in a file.
	// It is read only to say so.
	Token string `yaml:"token"`
	// Role is viewer (read), operator (read and operate the fleet:
	// states, drains, weights, blue/green, the queue) or admin
	// (everything, including the fleet's definition, the policy and
	// usage).
	Role string `yaml:"role"`

	envLen int // the length of TokenEnv's value, for validation
}

// HashToken is the TokenHash of a token.
func HashToken(token string) string {
	d := sha256.Sum256([]byte(token))
	return TokenHashPrefix + hex.EncodeToString(d[:])
}

// TokenHashPrefix starts every TokenHash.
const TokenHashPrefix = "sha256:"

// Defaults returns a configuration with every default filled in.
func Defaults() Config {
	return Config{
		Listener: Listener{Address: "0.0.0.0:8080", MaxBodyBytes: 1 << 20, RequestTimeout: 60 * time.Second, RefreshPeriod: 5 * time.Second},
		ControlPlane: ControlPlane{
			AdminAddress:    "127.0.0.1:9080",
			XDSAddress:      "127.0.0.1:18000",
			ExtProcAddress:  "127.0.0.1:18001",
			ResubmitAddress: "127.0.0.1:18002",
			QueueAddress:    "127.0.0.1:18003",
			ExtProcTimeout:  time.Second,
			LeaseTTL:        10 * time.Second,
		},
		Store:        Store{Type: "memory", QueryTTL: 24 * time.Hour, Redis: Redis{Mode: RedisStandalone, Timeout: 200 * time.Millisecond, KeyPrefix: "sy:"}},
		Health:       Health{Interval: 2 * time.Second, Timeout: time.Second, FallThreshold: 3, RiseThreshold: 2},
		Admin:        Admin{DrainTimeout: time.Hour},
		Policy:       Policy{DecisionLogSize: 1000},
		Governance:   defaultGovernance(),
		Events:       Events{MaxBytes: 16 << 20},
		Protection:   defaultProtection(),
		AutoRecovery: defaultAutoRecovery(),
		Routing: Routing{
			Cost:         Cost{Timeout: 2 * time.Second, CacheTTL: 10 * time.Minute, CacheSize: 10000},
			Resubmission: Resubmission{MaxQueryBytes: 256 << 10, MaxAttempts: 2, ProbeTimeout: 2 * time.Second},
			Sessions:     Sessions{IdleTTL: time.Hour, WebUIIdleTTL: 8 * time.Hour},
		},

		CoordinatorAPI: defaultCoordinatorAPI(),
	}
}

// Load reads, decodes and validates the file at path.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

var yamlUnknownField = regexp.MustCompile(`field (\S+) not found in type config\.(\w+)`)

// Parse decodes YAML strictly over the defaults and validates the result.
func Parse(b []byte) (*Config, error) {
	c := Defaults()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the file is empty")
		}
		msg := yamlUnknownField.ReplaceAllString(err.Error(), `unknown field "$1" in $2`)
		return nil, errors.New(msg)
	}
	c.applyDerivedDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *Config) applyDerivedDefaults() {
	if len(c.ControlPlane.ExtProcTargets) == 0 {
		c.ControlPlane.ExtProcTargets = []string{c.ControlPlane.ExtProcAddress}
	}
	if len(c.ControlPlane.ResubmitTargets) == 0 {
		c.ControlPlane.ResubmitTargets = []string{c.ControlPlane.ResubmitAddress}
	}
	if len(c.ControlPlane.QueueTargets) == 0 {
		c.ControlPlane.QueueTargets = []string{c.ControlPlane.QueueAddress}
	}
	c.Events.applyDefaults()
	c.Protection.applyDefaults()
	c.AutoRecovery.applyDefaults()
	c.Listener.Authentication.applyDefaults()
	r := &c.Store.Redis
	if r.PasswordEnv != "" && r.Password == "" {
		r.Password = os.Getenv(r.PasswordEnv)
	}
	if r.SentinelPasswordEnv != "" && r.SentinelPassword == "" {
		r.SentinelPassword = os.Getenv(r.SentinelPasswordEnv)
	}
	for i := range c.Groups {
		if c.Groups[i].Strategy == "" {
			c.Groups[i].Strategy = StrategyRoundRobin
		}
	}
	for i := range c.Clusters {
		c.Clusters[i].ApplyDefaults()
	}
	for i := range c.Admin.Tokens {
		t := &c.Admin.Tokens[i]
		if t.TokenEnv != "" && t.TokenHash == "" {
			if v := os.Getenv(t.TokenEnv); v != "" {
				t.TokenHash, t.envLen = HashToken(v), len(v)
			}
		}
	}
}

// ApplyDefaults fills in the defaults of a cluster definition.
func (c *Cluster) ApplyDefaults() {
	for j := range c.Coordinators {
		co := &c.Coordinators[j]
		if co.Name == "" {
			co.Name = fmt.Sprint(j)
		}
		if co.Role == "" {
			co.Role = RoleActive
		}
	}
	if c.Weight == nil {
		w := DefaultWeight
		c.Weight = &w
	}
	if c.Failback == nil {
		t := true
		c.Failback = &t
	}
	if c.State == "" {
		c.State = StateActive
	}
}

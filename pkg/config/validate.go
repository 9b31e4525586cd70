package config

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Balancing strategies within a routing group.
const (
	StrategyRoundRobin  = "round-robin"
	StrategyLeastLoaded = "least-loaded"
	StrategyWeighted    = "weighted"
	StrategyAffinity    = "affinity"
)

var strategies = []string{StrategyRoundRobin, StrategyLeastLoaded, StrategyWeighted, StrategyAffinity}

// Coordinator roles.
const (
	RoleActive  = "active"
	RoleStandby = "standby"
)

// Initial cluster states in the configuration (the lifecycle adds draining
// and drained at run time).
const (
	StateActive   = "active"
	StateInactive = "inactive"
)

// DefaultWeight is a cluster's weight when none is given.
const DefaultWeight = 100

// Admin API roles.
const (
	RoleAdmin    = "admin"
	RoleOperator = "operator"
	RoleViewer   = "viewer"
)

// Store types.
const (
	StoreMemory = "memory"
	StoreRedis  = "redis"
)

// Redis modes.
const (
	RedisStandalone = "standalone"
	RedisSentinel   = "sentinel"
	RedisCluster    = "cluster"
)

var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// ValidName reports whether s can name a cluster, group or coordinator: 1-63
// of lowercase letters, digits and inner hyphens (these names appear in
// Envoy resource names and in the URIs clients follow).
func ValidName(s string) bool { return nameRE.MatchString(s) }

const nameRule = "use 1-63 lowercase letters, digits and inner hyphens"

// Validate checks the configuration; every message names the field.
func (c *Config) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	checkAddr := func(field, v string) {
		if err := validHostPort(v); err != nil {
			add(field, "%v", err)
		}
	}

	checkAddr("listener.address", c.Listener.Address)
	if c.Listener.MaxBodyBytes < 1024 || c.Listener.MaxBodyBytes > 64<<20 {
		add("listener.maxBodyBytes", "must be between 1024 and 67108864, got %d", c.Listener.MaxBodyBytes)
	}
	if c.Listener.RequestTimeout <= 0 {
		add("listener.requestTimeout", "must be positive, got %v", c.Listener.RequestTimeout)
	}
	c.Listener.validateSecurity(add, checkAddr)
	checkAddr("controlPlane.adminAddress", c.ControlPlane.AdminAddress)
	checkAddr("controlPlane.xdsAddress", c.ControlPlane.XDSAddress)
	checkAddr("controlPlane.extProcAddress", c.ControlPlane.ExtProcAddress)
	for i, t := range c.ControlPlane.ExtProcTargets {
		checkAddr(fmt.Sprintf("controlPlane.extProcTargets[%d]", i), t)
	}
	checkAddr("controlPlane.resubmitAddress", c.ControlPlane.ResubmitAddress)
	for i, t := range c.ControlPlane.ResubmitTargets {
		checkAddr(fmt.Sprintf("controlPlane.resubmitTargets[%d]", i), t)
	}
	checkAddr("controlPlane.queueAddress", c.ControlPlane.QueueAddress)
	for i, t := range c.ControlPlane.QueueTargets {
		checkAddr(fmt.Sprintf("controlPlane.queueTargets[%d]", i), t)
	}
	if c.ControlPlane.ExtProcTimeout <= 0 {
		add("controlPlane.extProcTimeout", "must be positive, got %v", c.ControlPlane.ExtProcTimeout)
	}
	if c.ControlPlane.LeaseTTL < 100*time.Millisecond {
		add("controlPlane.leaseTTL", "must be at least 100ms, got %v", c.ControlPlane.LeaseTTL)
	}

	switch c.Store.Type {
	case StoreMemory:
	case StoreRedis:
		r := c.Store.Redis
		switch r.Mode {
		case RedisStandalone:
			if r.Address == "" {
				add("store.redis.address", "is required when store.type is redis (standalone mode)")
			} else {
				checkAddr("store.redis.address", r.Address)
			}
			if len(r.Addresses) > 0 {
				add("store.redis.addresses", "is for sentinel and cluster modes; standalone mode takes store.redis.address")
			}
		case RedisSentinel, RedisCluster:
			if r.Address != "" {
				add("store.redis.address", "is for standalone mode; %s mode takes store.redis.addresses", r.Mode)
			}
			if len(r.Addresses) == 0 {
				add("store.redis.addresses", "at least one address is required in %s mode", r.Mode)
			}
			for i, a := range r.Addresses {
				checkAddr(fmt.Sprintf("store.redis.addresses[%d]", i), a)
			}
		default:
			add("store.redis.mode", "must be %q, %q or %q, got %q", RedisStandalone, RedisSentinel, RedisCluster, r.Mode)
		}
		switch {
		case r.Mode == RedisSentinel && r.MasterName == "":
			add("store.redis.masterName", "is required in sentinel mode")
		case r.Mode != RedisSentinel && (r.MasterName != "" || r.SentinelUsername != "" || r.SentinelPassword != ""):
			add("store.redis.masterName", "and the sentinel credentials are for sentinel mode only")
		}
		if r.Mode == RedisCluster && r.DB != 0 {
			add("store.redis.db", "Redis Cluster has only database 0, got %d", r.DB)
		}
		if strings.ContainsAny(r.KeyPrefix, "{}") {
			add("store.redis.keyPrefix", "%q must not contain { or }: the store's keys carry their own Redis Cluster hash tags", r.KeyPrefix)
		}
		if r.Timeout <= 0 {
			add("store.redis.timeout", "must be positive, got %v", r.Timeout)
		}
	default:
		add("store.type", "must be %q or %q, got %q", StoreMemory, StoreRedis, c.Store.Type)
	}
	if c.Store.QueryTTL < 60e9 {
		add("store.queryTTL", "must be at least 1m, got %v", c.Store.QueryTTL)
	}

	if c.Health.Interval <= 0 {
		add("health.interval", "must be positive, got %v", c.Health.Interval)
	}
	if c.Health.Timeout <= 0 {
		add("health.timeout", "must be positive, got %v", c.Health.Timeout)
	}
	if c.Health.FallThreshold < 1 {
		add("health.fallThreshold", "must be at least 1, got %d", c.Health.FallThreshold)
	}
	if c.Health.RiseThreshold < 1 {
		add("health.riseThreshold", "must be at least 1, got %d", c.Health.RiseThreshold)
	}

	c.CoordinatorAPI.validate(add)
	c.Governance.validate(c.Listener.RequestTimeout, add)
	c.Events.validate(add)
	c.Protection.validate(add)
	c.AutoRecovery.validate(add)
	c.Console.validate(add)

	groups := map[string]bool{}
	if len(c.Groups) == 0 {
		add("groups", "at least one routing group is required")
	}
	for i, g := range c.Groups {
		f := fmt.Sprintf("groups[%d]", i)
		switch {
		case !ValidName(g.Name):
			add(f+".name", "%q is not a valid name (%s)", g.Name, nameRule)
		case groups[g.Name]:
			add(f+".name", "duplicate group %q", g.Name)
		}
		groups[g.Name] = true
		if !slices.Contains(strategies, g.Strategy) {
			add(f+".strategy", "must be one of %s, got %q", strings.Join(strategies, ", "), g.Strategy)
		}
	}
	for i, g := range c.Groups {
		switch {
		case g.Fallback == "":
		case g.Fallback == g.Name:
			add(fmt.Sprintf("groups[%d].fallback", i), "a group cannot fall back to itself")
		case !groups[g.Fallback]:
			add(fmt.Sprintf("groups[%d].fallback", i), "names unknown group %q", g.Fallback)
		}
	}
	switch {
	case c.Routing.DefaultGroup == "":
		add("routing.defaultGroup", "is required")
	case !groups[c.Routing.DefaultGroup]:
		add("routing.defaultGroup", "names unknown group %q", c.Routing.DefaultGroup)
	}

	clusters := map[string]bool{}
	for i, cl := range c.Clusters {
		f := fmt.Sprintf("clusters[%d]", i)
		if clusters[cl.Name] {
			add(f+".name", "duplicate cluster %q", cl.Name)
		}
		clusters[cl.Name] = true
		errs = append(errs, ValidateCluster(f, cl, groups)...)
	}

	if er := c.Routing.ExternalRouter; er.URL != "" {
		u, err := url.Parse(er.URL)
		if err != nil || u.Host == "" || (u.Scheme != "grpc" && u.Scheme != "http" && u.Scheme != "https") {
			add("routing.externalRouter.url", "%q: want grpc://host:port or http(s)://host/path", er.URL)
		}
		if er.Timeout < 0 {
			add("routing.externalRouter.timeout", "must not be negative, got %v", er.Timeout)
		}
	}
	if co := c.Routing.Cost; co.Enabled {
		if !ValidName(co.Cluster) {
			add("routing.cost.cluster", "is required when routing.cost.enabled (the cluster that runs the EXPLAINs), got %q", co.Cluster)
		}
		if co.Timeout <= 0 || co.CacheTTL <= 0 || co.CacheSize < 1 {
			add("routing.cost", "timeout, cacheTTL and cacheSize must be positive")
		}
	}
	if r := c.Routing.Resubmission; r.On() {
		if r.MaxQueryBytes < 1 || r.MaxQueryBytes > 64<<20 {
			add("routing.resubmission.maxQueryBytes", "must be between 1 and 67108864, got %d", r.MaxQueryBytes)
		}
		if r.MaxAttempts < 1 || r.MaxAttempts > 10 {
			add("routing.resubmission.maxAttempts", "must be between 1 and 10, got %d", r.MaxAttempts)
		}
		if r.ProbeTimeout <= 0 {
			add("routing.resubmission.probeTimeout", "must be positive, got %v", r.ProbeTimeout)
		}
	}
	if ttl := c.Routing.Sessions.IdleTTL; ttl < time.Second || ttl > 30*24*time.Hour {
		add("routing.sessions.idleTTL", "must be between 1s and 720h, got %v", ttl)
	}
	if ttl := c.Routing.Sessions.WebUIIdleTTL; ttl < time.Minute || ttl > 30*24*time.Hour {
		add("routing.sessions.webUIIdleTTL", "must be between 1m and 720h, got %v", ttl)
	}
	if c.Policy.Dir != "" {
		if st, err := os.Stat(c.Policy.Dir); err != nil || !st.IsDir() {
			add("policy.dir", "%q is not a readable directory", c.Policy.Dir)
		}
	}
	if c.Policy.DecisionLogSize < 1 || c.Policy.DecisionLogSize > 1000000 {
		add("policy.decisionLogSize", "must be between 1 and 1000000, got %d", c.Policy.DecisionLogSize)
	}
	for _, e := range []struct{ field, env, value string }{
		{"store.redis.passwordEnv", c.Store.Redis.PasswordEnv, c.Store.Redis.Password},
		{"store.redis.sentinelPasswordEnv", c.Store.Redis.SentinelPasswordEnv, c.Store.Redis.SentinelPassword},
	} {
		if e.env != "" && e.value == "" {
			add(e.field, "environment variable %s is empty or unset", e.env)
		}
		if e.env != "" && e.value != "" && e.value != os.Getenv(e.env) {
			add(e.field, "set one of the password and %s, not both", e.field)
		}
	}
	if c.Admin.DrainTimeout <= 0 {
		add("admin.drainTimeout", "must be positive, got %v", c.Admin.DrainTimeout)
	}
	if t := c.ControlPlane.AdminTLS; t != nil {
		validateTLSFiles(add, "controlPlane.adminTLS", *t)
	}
	if t := c.ControlPlane.GRPCTLS; t != nil {
		validateTLSFiles(add, "controlPlane.grpcTLS", *t)
		if t.ClientCAFile == "" {
			add("controlPlane.grpcTLS.clientCAFile", "is required: the xDS and ext_proc ports take only clients with a certificate from this CA")
		}
	}
	tokens := map[string]bool{}
	for i, t := range c.Admin.Tokens {
		f := fmt.Sprintf("admin.tokens[%d]", i)
		if t.Name == "" {
			add(f+".name", "is required")
		}
		switch {
		case t.Token != "":
			add(f+".token", "a token in the clear is not accepted in the file: put its hash in tokenHash (switchyard token hash) or name an environment variable holding it in tokenEnv")
		case t.TokenEnv != "" && t.envLen == 0 && t.TokenHash != "":
			add(f, "set one of tokenHash and tokenEnv, not both")
		case t.TokenEnv != "" && t.envLen == 0:
			add(f+".tokenEnv", "environment variable %s is empty or unset", t.TokenEnv)
		case t.TokenEnv != "" && t.envLen < 16:
			add(f+".tokenEnv", "environment variable %s must hold at least 16 characters, it holds %d", t.TokenEnv, t.envLen)
		case t.TokenHash == "":
			add(f+".tokenHash", "is required (or tokenEnv)")
		case !validTokenHash(t.TokenHash):
			add(f+".tokenHash", "must be %q followed by 64 lower-case hex digits (switchyard token hash)", TokenHashPrefix)
		case tokens[t.TokenHash]:
			add(f+".tokenHash", "is the same as another token's")
		}
		tokens[t.TokenHash] = true
		if t.Role != RoleAdmin && t.Role != RoleOperator && t.Role != RoleViewer {
			add(f+".role", "must be %q, %q or %q, got %q", RoleViewer, RoleOperator, RoleAdmin, t.Role)
		}
	}
	return errors.Join(errs...)
}

// validateTLSFiles checks that an endpoint's PEM files are named and
// readable (their contents are checked when the control plane loads them).
func validateTLSFiles(add func(field, format string, args ...any), field string, t TLSFiles) {
	for _, f := range []struct {
		name, path string
		required   bool
	}{{"certFile", t.CertFile, true}, {"keyFile", t.KeyFile, true}, {"clientCAFile", t.ClientCAFile, false}} {
		switch {
		case f.path == "" && f.required:
			add(field+"."+f.name, "is required")
		case f.path != "":
			if _, err := os.Stat(f.path); err != nil {
				add(field+"."+f.name, "%q is not readable: %v", f.path, errors.Unwrap(err))
			}
		}
	}
}

func validTokenHash(h string) bool {
	x, ok := strings.CutPrefix(h, TokenHashPrefix)
	if !ok || len(x) != 64 || strings.ToLower(x) != x {
		return false
	}
	_, err := hex.DecodeString(x)
	return err == nil
}

// ValidateCluster checks one cluster definition (with defaults applied);
// field prefixes the messages (e.g. "clusters[2]"). groups are the known
// routing groups.
func ValidateCluster(field string, cl Cluster, groups map[string]bool) []error {
	var errs []error
	add := func(f, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s%s: %s", field, f, fmt.Sprintf(format, args...)))
	}
	if !ValidName(cl.Name) {
		add(".name", "%q is not a valid name (%s)", cl.Name, nameRule)
	}
	if !groups[cl.Group] {
		add(".group", "names unknown group %q", cl.Group)
	}
	if cl.Weight != nil && (*cl.Weight < 0 || *cl.Weight > 10000) {
		add(".weight", "must be between 0 and 10000, got %d", *cl.Weight)
	}
	for j, t := range cl.Tags {
		if !ValidName(t) {
			add(fmt.Sprintf(".tags[%d]", j), "%q is not a valid tag (%s)", t, nameRule)
		}
	}
	if cl.State != StateActive && cl.State != StateInactive {
		add(".state", "must be %q or %q, got %q", StateActive, StateInactive, cl.State)
	}
	return append(errs, validateCoordinators(field, cl.Coordinators)...)
}

func validateCoordinators(f string, cos []Coordinator) []error {
	var errs []error
	if len(cos) == 0 {
		return []error{fmt.Errorf("%s.coordinators: at least one coordinator is required", f)}
	}
	names := map[string]bool{}
	active := 0
	for j, co := range cos {
		cf := fmt.Sprintf("%s.coordinators[%d]", f, j)
		switch {
		case !ValidName(co.Name):
			errs = append(errs, fmt.Errorf("%s.name: %q is not a valid name (%s)", cf, co.Name, nameRule))
		case names[co.Name]:
			errs = append(errs, fmt.Errorf("%s.name: duplicate coordinator %q", cf, co.Name))
		}
		names[co.Name] = true
		if _, err := ParseCoordinatorURL(co.URL); err != nil {
			errs = append(errs, fmt.Errorf("%s.url: %v", cf, err))
		}
		switch co.Role {
		case RoleActive:
			active++
		case RoleStandby:
		default:
			errs = append(errs, fmt.Errorf("%s.role: must be %q or %q, got %q", cf, RoleActive, RoleStandby, co.Role))
		}
	}
	if active == 0 {
		errs = append(errs, fmt.Errorf("%s.coordinators: at least one coordinator must have role %q", f, RoleActive))
	}
	return errs
}

// Endpoint is a parsed coordinator URL.
type Endpoint struct {
	Scheme string // http or https
	Host   string // IP address or DNS name
	Port   uint32
}

// ParseCoordinatorURL accepts http(s)://host[:port] with no path.
func ParseCoordinatorURL(s string) (Endpoint, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return Endpoint{}, fmt.Errorf("%q is not an absolute http(s) URL", s)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return Endpoint{}, fmt.Errorf("%q: scheme must be http or https", s)
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.User != nil {
		return Endpoint{}, fmt.Errorf("%q: must be scheme://host:port with no path, query or credentials", s)
	}
	port := uint32(80)
	if u.Scheme == "https" {
		port = 443
	}
	if p := u.Port(); p != "" {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			return Endpoint{}, fmt.Errorf("%q: bad port %q", s, p)
		}
		port = uint32(n)
	}
	return Endpoint{Scheme: u.Scheme, Host: u.Hostname(), Port: port}, nil
}

func validHostPort(v string) error {
	if v == "" {
		return errors.New("is required (host:port)")
	}
	_, p, err := net.SplitHostPort(v)
	if err != nil {
		return fmt.Errorf("%q is not host:port", v)
	}
	if _, err := strconv.ParseUint(p, 10, 16); err != nil {
		return fmt.Errorf("%q has a bad port", v)
	}
	return nil
}

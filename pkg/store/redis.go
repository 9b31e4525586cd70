package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis deployment modes.
const (
	RedisStandalone = "standalone" // one server (or a managed endpoint)
	RedisSentinel   = "sentinel"   // a primary found through Sentinel, failed over by it
	RedisCluster    = "cluster"    // Redis Cluster: keys spread over hash slots
)

// RedisOptions configure a Redis store.
type RedisOptions struct {
	// Mode is RedisStandalone (default), RedisSentinel or RedisCluster.
	Mode string
	// Addresses: the server (standalone), the sentinels, or the cluster's
	// seed nodes.
	Addresses []string
	// MasterName is the Sentinel name of the primary (sentinel mode).
	MasterName string
	Username   string
	Password   string
	// SentinelUsername and SentinelPassword authenticate to the sentinels.
	SentinelUsername string
	SentinelPassword string
	DB               int
	// Timeout is the dial, read and write timeout of each call.
	Timeout   time.Duration
	KeyPrefix string
	// OnUnreplicated is told of a transaction record that no replica
	// acknowledged within a second (Sentinel mode; nil: nothing).
	OnUnreplicated func(transactionID string)
	// OnRoundTrip, when set, is told of every round trip to Redis: the
	// command's name in lower case ("pipeline" for a pipeline), how long
	// it took and its error (nil for an answer, a missing key included).
	OnRoundTrip func(command string, took time.Duration, err error)
}

// universalOptions maps the options to go-redis's, choosing the client by
// mode explicitly (not by how many addresses there are).
func (o RedisOptions) universalOptions() (*redis.UniversalOptions, error) {
	if len(o.Addresses) == 0 {
		return nil, fmt.Errorf("redis: no address")
	}
	if strings.ContainsAny(o.KeyPrefix, "{}") {
		return nil, fmt.Errorf("redis: key prefix %q must not contain { or }: the store's keys carry their own hash tags", o.KeyPrefix)
	}
	u := &redis.UniversalOptions{
		Addrs:        o.Addresses,
		Username:     o.Username,
		Password:     o.Password,
		DB:           o.DB,
		DialTimeout:  o.Timeout,
		ReadTimeout:  o.Timeout,
		WriteTimeout: o.Timeout,
		// One retry: the request path cannot wait for three.
		MaxRetries: 1,
		// No CLIENT SETINFO on connect: Redis before 7.2 refuses it, which
		// go-redis ignores but the round-trip metrics would count as a
		// Redis error on every new connection.
		DisableIdentity: true,
		// A caller's deadline ends a call even mid-read: a request path
		// that must answer Envoy within its ext_proc message timeout
		// bounds its store calls below the store's own timeout.
		ContextTimeoutEnabled: true,
		// A black-holed connection must not hang callers; the pool timeout
		// bounds the wait for a free connection.
		PoolTimeout: 2 * o.Timeout,
	}
	switch o.Mode {
	case "", RedisStandalone:
		if len(o.Addresses) != 1 {
			return nil, fmt.Errorf("redis: standalone mode takes one address, got %d", len(o.Addresses))
		}
	case RedisSentinel:
		if o.MasterName == "" {
			return nil, fmt.Errorf("redis: sentinel mode needs the primary's master name")
		}
		u.MasterName, u.SentinelUsername, u.SentinelPassword = o.MasterName, o.SentinelUsername, o.SentinelPassword
	case RedisCluster:
		if o.DB != 0 {
			return nil, fmt.Errorf("redis: cluster mode has only database 0, got %d", o.DB)
		}
		u.IsClusterMode = true
	default:
		return nil, fmt.Errorf("redis: unknown mode %q", o.Mode)
	}
	return u, nil
}

// NewRedis returns the store on Redis (single node, Sentinel or Cluster,
// by o.Mode). It connects lazily: Ping checks the connection.
func NewRedis(o RedisOptions) (*Store, error) {
	u, err := o.universalOptions()
	if err != nil {
		return nil, err
	}
	c := redis.NewUniversalClient(u)
	trips := &roundTrips{observe: o.OnRoundTrip}
	c.AddHook(trips)
	k := keys{prefix: o.KeyPrefix}
	return &Store{
		Queries:    &redisQueries{c: c, k: k, replicated: u.MasterName != "", onUnreplicated: o.OnUnreplicated},
		Documents:  &redisDocuments{c: c, k: k, legacy: !u.IsClusterMode && u.MasterName == ""},
		Leases:     &redisLeases{c: c, k: k, now: time.Now},
		Replays:    &redisReplays{c: c, k: k},
		Sessions:   &redisSessions{c: c, k: k},
		Governance: newRedisGovernance(c, k, time.Now),
		History:    newRedisHistory(c, k),
		Audit:      newRedisAudit(c, k),
		Protection: &redisProtection{c: c, k: k, now: time.Now},
		Kind:       "redis",
		ping:       func(ctx context.Context) error { return c.Ping(ctx).Err() },
		close:      c.Close,
		trips:      trips,
	}, nil
}

// keys names every key the store uses. Keys that one script touches
// together share a hash tag ({...}), so Redis Cluster keeps them in one
// slot and the script never fails with CROSSSLOT.
type keys struct{ prefix string }

func (k keys) query(id string) string       { return k.prefix + "q:" + id }
func (k keys) transaction(id string) string { return k.prefix + "t:" + id }
func (k keys) replay(id string) string      { return k.prefix + "r:" + id }
func (k keys) session(id string) string     { return k.prefix + "s:" + id }

// document returns a document's key and its revision counter's.
func (k keys) document(name string) []string {
	tag := k.prefix + "doc:{" + name + "}"
	return []string{tag, tag + ":rev"}
}

// legacyDocument returns the keys of a document in versions before the
// hash tags (read once, to move the document).
func (k keys) legacyDocument(name string) []string {
	return []string{k.prefix + "doc:" + name, k.prefix + "doc:" + name + ":rev"}
}

// lease returns a lease's key and its fencing counter's.
func (k keys) lease(name string) []string {
	tag := k.prefix + "lease:{" + name + "}"
	return []string{tag, tag + ":fence"}
}

package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisOptions configure a Redis store.
type RedisOptions struct {
	Address   string
	Username  string
	Password  string
	DB        int
	Timeout   time.Duration // dial, read and write timeout of each call
	KeyPrefix string
}

// Redis is the shared Store for a fleet of control-plane replicas.
type Redis struct {
	c      *redis.Client
	prefix string
}

// NewRedis connects lazily; call Ping to check the connection.
func NewRedis(o RedisOptions) *Redis {
	c := redis.NewClient(&redis.Options{
		Addr:         o.Address,
		Username:     o.Username,
		Password:     o.Password,
		DB:           o.DB,
		DialTimeout:  o.Timeout,
		ReadTimeout:  o.Timeout,
		WriteTimeout: o.Timeout,
		// One retry: the request path cannot wait for three.
		MaxRetries: 1,
		// A black-holed connection must not hang callers; the pool timeout
		// bounds the wait for a free connection.
		PoolTimeout: 2 * o.Timeout,
	})
	return &Redis{c: c, prefix: o.KeyPrefix}
}

func (r *Redis) queryKey(id string) string { return r.prefix + "q:" + id }

// The fleet document and its revision counter, written together by a
// script so no reader sees one without the other.
var (
	casFleet = redis.NewScript(`
local rev = tonumber(redis.call('GET', KEYS[2]) or '0')
if rev ~= tonumber(ARGV[2]) then return -1 end
redis.call('SET', KEYS[1], ARGV[1])
return redis.call('INCR', KEYS[2])`)
	getFleet = redis.NewScript(`return {redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2])}`)
)

func (r *Redis) fleetKeys() []string { return []string{r.prefix + "fleet", r.prefix + "fleet:rev"} }

// GetFleet implements Store.
func (r *Redis) GetFleet(ctx context.Context) ([]byte, int64, error) {
	v, err := getFleet.Run(ctx, r.c, r.fleetKeys()).Slice()
	if err != nil {
		return nil, 0, fmt.Errorf("redis: reading the fleet: %w", err)
	}
	doc, _ := v[0].(string)
	revs, _ := v[1].(string)
	if doc == "" || revs == "" {
		return nil, 0, ErrNotFound
	}
	rev, err := strconv.ParseInt(revs, 10, 64)
	if err != nil {
		return nil, 0, fmt.Errorf("redis: bad fleet revision %q", revs)
	}
	return []byte(doc), rev, nil
}

// CASFleet implements Store.
func (r *Redis) CASFleet(ctx context.Context, doc []byte, expect int64) (int64, error) {
	rev, err := casFleet.Run(ctx, r.c, r.fleetKeys(), doc, expect).Int64()
	if err != nil {
		return 0, fmt.Errorf("redis: writing the fleet: %w", err)
	}
	if rev < 0 {
		return 0, ErrConflict
	}
	return rev, nil
}

// FleetRevision implements Store.
func (r *Redis) FleetRevision(ctx context.Context) (int64, error) {
	rev, err := r.c.Get(ctx, r.fleetKeys()[1]).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("redis: reading the fleet revision: %w", err)
	}
	return rev, nil
}

// PutQuery implements Store.
func (r *Redis) PutQuery(ctx context.Context, id string, q QueryRoute, ttl time.Duration) error {
	if err := r.c.Set(ctx, r.queryKey(id), q.String(), ttl).Err(); err != nil {
		return fmt.Errorf("redis: recording query %s: %w", id, err)
	}
	return nil
}

// GetQuery implements Store.
func (r *Redis) GetQuery(ctx context.Context, id string) (QueryRoute, error) {
	v, err := r.c.Get(ctx, r.queryKey(id)).Result()
	if errors.Is(err, redis.Nil) {
		return QueryRoute{}, ErrNotFound
	}
	if err != nil {
		return QueryRoute{}, fmt.Errorf("redis: looking up query %s: %w", id, err)
	}
	return ParseQueryRoute(v)
}

// Ping implements Store.
func (r *Redis) Ping(ctx context.Context) error { return r.c.Ping(ctx).Err() }

// Close implements Store.
func (r *Redis) Close() error { return r.c.Close() }

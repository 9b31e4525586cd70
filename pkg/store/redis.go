package store

import (
	"context"
	"errors"
	"fmt"
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

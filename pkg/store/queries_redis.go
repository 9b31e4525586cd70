package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisQueries is Queries on Redis: one key per query or transaction,
// with its TTL.
type redisQueries struct {
	c redis.UniversalClient
	k keys
}

func (r *redisQueries) put(ctx context.Context, key, what, id string, q QueryRoute, ttl time.Duration) error {
	if err := r.c.Set(ctx, key, q.Encode(), ttl).Err(); err != nil {
		return fmt.Errorf("redis: recording %s %s: %w", what, id, err)
	}
	return nil
}

func (r *redisQueries) get(ctx context.Context, key, what, id string) (QueryRoute, error) {
	v, err := r.c.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		return QueryRoute{}, ErrNotFound
	}
	if err != nil {
		return QueryRoute{}, fmt.Errorf("redis: looking up %s %s: %w", what, id, err)
	}
	q, err := ParseQueryRoute(v)
	if err != nil {
		return QueryRoute{}, fmt.Errorf("redis: %s %s: %w", what, id, err)
	}
	return q, nil
}

func (r *redisQueries) PutQuery(ctx context.Context, id string, q QueryRoute, ttl time.Duration) error {
	return r.put(ctx, r.k.query(id), "query", id, q, ttl)
}

func (r *redisQueries) GetQuery(ctx context.Context, id string) (QueryRoute, error) {
	return r.get(ctx, r.k.query(id), "query", id)
}

func (r *redisQueries) PutTransaction(ctx context.Context, id string, q QueryRoute, ttl time.Duration) error {
	return r.put(ctx, r.k.transaction(id), "transaction", id, q, ttl)
}

func (r *redisQueries) GetTransaction(ctx context.Context, id string) (QueryRoute, error) {
	return r.get(ctx, r.k.transaction(id), "transaction", id)
}

package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisReplays is Replays on Redis: one JSON value per query, with its TTL.
type redisReplays struct {
	c redis.UniversalClient
	k keys
}

func (r *redisReplays) PutReplay(ctx context.Context, id string, rp Replay, ttl time.Duration) error {
	b, err := encodeReplay(id, rp)
	if err != nil {
		return err
	}
	if err := r.c.Set(ctx, r.k.replay(id), b, ttl).Err(); err != nil {
		return fmt.Errorf("redis: recording the replay of query %s: %w", id, err)
	}
	return nil
}

func (r *redisReplays) GetReplay(ctx context.Context, id string) (Replay, error) {
	b, err := r.c.Get(ctx, r.k.replay(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return Replay{}, ErrNotFound
	}
	if err != nil {
		return Replay{}, fmt.Errorf("redis: looking up the replay of query %s: %w", id, err)
	}
	return decodeReplay(id, b)
}

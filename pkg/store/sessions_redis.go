package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisSessions is Sessions on Redis: one JSON value per session, read
// with GETEX so a read restarts the idle TTL in the same round trip.
type redisSessions struct {
	c redis.UniversalClient
	k keys
}

func (r *redisSessions) PutSession(ctx context.Context, id string, s ClientSession, ttl time.Duration) error {
	b, err := encodeSession(id, s)
	if err != nil {
		return err
	}
	if err := r.c.Set(ctx, r.k.session(id), b, ttl).Err(); err != nil {
		return fmt.Errorf("redis: recording session %s: %w", id, err)
	}
	return nil
}

func (r *redisSessions) GetSession(ctx context.Context, id string, ttl time.Duration) (ClientSession, error) {
	b, err := r.c.GetEx(ctx, r.k.session(id), ttl).Bytes()
	if errors.Is(err, redis.Nil) {
		return ClientSession{}, ErrNotFound
	}
	if err != nil {
		return ClientSession{}, fmt.Errorf("redis: looking up session %s: %w", id, err)
	}
	return decodeSession(id, b)
}

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
	// replicated (Sentinel): a transaction record counts as written once
	// a replica has it (WAIT), so a failover cannot drop it.
	replicated bool
	// onUnreplicated reports a record that only the primary has (nil:
	// nothing).
	onUnreplicated func(id string)
}

// Replication of a transaction record: each try waits this long for a
// replica's acknowledgement; the tries end at the caller's deadline or
// after replicateFor, when the record stays written on the primary alone.
const (
	replicaWait  = 100 * time.Millisecond
	replicateFor = time.Second
)

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

// PutTransaction records a transaction's coordinator. Under Sentinel the
// record is only taken as written once a replica acknowledged it: Redis
// replicates asynchronously, and a write the old primary took after the
// promotion of its replica (before the client followed the switch) is
// lost. Without an acknowledgement the write is sent again (to the new
// primary, once the client follows it); after replicateFor it stays on
// the primary alone, reported, and the gateway's asking the coordinators
// covers its loss.
func (r *redisQueries) PutTransaction(ctx context.Context, id string, q QueryRoute, ttl time.Duration) error {
	key := r.k.transaction(id)
	if !r.replicated {
		return r.put(ctx, key, "transaction", id, q, ttl)
	}
	deadline := time.Now().Add(replicateFor)
	for {
		var acks *redis.Cmd
		_, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error { // one connection: WAIT counts this SET
			p.Set(ctx, key, q.Encode(), ttl)
			acks = p.Do(ctx, "WAIT", 1, replicaWait.Milliseconds())
			return nil
		})
		if err != nil {
			return fmt.Errorf("redis: recording transaction %s: %w", id, err)
		}
		if n, err := acks.Int64(); err == nil && n >= 1 {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			if r.onUnreplicated != nil {
				r.onUnreplicated(id)
			}
			return nil
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (r *redisQueries) GetTransaction(ctx context.Context, id string) (QueryRoute, error) {
	return r.get(ctx, r.k.transaction(id), "transaction", id)
}

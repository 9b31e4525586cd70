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

// A shared document and its revision counter, written together by a
// script so no reader sees one without the other.
var (
	casDoc = redis.NewScript(`
local rev = tonumber(redis.call('GET', KEYS[2]) or '0')
if rev ~= tonumber(ARGV[2]) then return -1 end
redis.call('SET', KEYS[1], ARGV[1])
return redis.call('INCR', KEYS[2])`)
	getDoc = redis.NewScript(`return {redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2])}`)
)

func (r *Redis) docKeys(name string) []string {
	return []string{r.prefix + "doc:" + name, r.prefix + "doc:" + name + ":rev"}
}

// GetDocument implements Store.
func (r *Redis) GetDocument(ctx context.Context, name string) ([]byte, int64, error) {
	v, err := getDoc.Run(ctx, r.c, r.docKeys(name)).Slice()
	if err != nil {
		return nil, 0, fmt.Errorf("redis: reading the %s document: %w", name, err)
	}
	doc, _ := v[0].(string)
	revs, _ := v[1].(string)
	if doc == "" || revs == "" {
		return nil, 0, ErrNotFound
	}
	rev, err := strconv.ParseInt(revs, 10, 64)
	if err != nil {
		return nil, 0, fmt.Errorf("redis: bad %s revision %q", name, revs)
	}
	return []byte(doc), rev, nil
}

// CASDocument implements Store.
func (r *Redis) CASDocument(ctx context.Context, name string, doc []byte, expect int64) (int64, error) {
	rev, err := casDoc.Run(ctx, r.c, r.docKeys(name), doc, expect).Int64()
	if err != nil {
		return 0, fmt.Errorf("redis: writing the %s document: %w", name, err)
	}
	if rev < 0 {
		return 0, ErrConflict
	}
	return rev, nil
}

// DocumentRevision implements Store.
func (r *Redis) DocumentRevision(ctx context.Context, name string) (int64, error) {
	rev, err := r.c.Get(ctx, r.docKeys(name)[1]).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("redis: reading the %s revision: %w", name, err)
	}
	return rev, nil
}

// PutQuery implements Store.
func (r *Redis) PutQuery(ctx context.Context, id string, q QueryRoute, ttl time.Duration) error {
	if err := r.c.Set(ctx, r.queryKey(id), q.encode(), ttl).Err(); err != nil {
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

// PutTransaction implements Store.
func (r *Redis) PutTransaction(ctx context.Context, id string, q QueryRoute, ttl time.Duration) error {
	if err := r.c.Set(ctx, r.prefix+"t:"+id, q.encode(), ttl).Err(); err != nil {
		return fmt.Errorf("redis: recording transaction %s: %w", id, err)
	}
	return nil
}

// GetTransaction implements Store.
func (r *Redis) GetTransaction(ctx context.Context, id string) (QueryRoute, error) {
	v, err := r.c.Get(ctx, r.prefix+"t:"+id).Result()
	if errors.Is(err, redis.Nil) {
		return QueryRoute{}, ErrNotFound
	}
	if err != nil {
		return QueryRoute{}, fmt.Errorf("redis: looking up transaction %s: %w", id, err)
	}
	return ParseQueryRoute(v)
}

// Ping implements Store.
func (r *Redis) Ping(ctx context.Context) error { return r.c.Ping(ctx).Err() }

// Close implements Store.
func (r *Redis) Close() error { return r.c.Close() }

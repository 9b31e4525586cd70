package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// redisDocuments is Documents on Redis: a document and its revision
// counter, written together by a script (same hash slot) so no reader sees
// one without the other.
type redisDocuments struct {
	c redis.UniversalClient
	k keys
	// legacy: the keys of versions before the hash-tagged ones may exist
	// (standalone Redis, the only mode those versions had).
	legacy bool
}

var (
	casDoc = redis.NewScript(`
local rev = tonumber(redis.call('GET', KEYS[2]) or '0')
if rev ~= tonumber(ARGV[2]) then return -1 end
redis.call('SET', KEYS[1], ARGV[1])
return redis.call('INCR', KEYS[2])`)
	// restoreDoc stores a document at a revision if the stored one is
	// absent or older; the counter never goes back.
	restoreDoc = redis.NewScript(`
local rev = tonumber(ARGV[2])
local cur = tonumber(redis.call('GET', KEYS[2]) or '0')
if redis.call('EXISTS', KEYS[1]) == 1 then
  if cur >= rev then return 0 end
elseif cur >= rev then
  rev = cur + 1
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], rev)
return 1`)
	getDoc = redis.NewScript(`return {redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2])}`)
	// migrateDoc copies a document and its revision from the keys of
	// earlier versions ("sy:doc:fleet", "sy:doc:fleet:rev") to the
	// hash-tagged ones, once, if those are empty.
	migrateDoc = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local d = redis.call('GET', KEYS[3])
local r = redis.call('GET', KEYS[4])
if not d or not r then return 0 end
redis.call('SET', KEYS[1], d)
redis.call('SET', KEYS[2], r)
return 1`)
)

func (r *redisDocuments) GetDocument(ctx context.Context, name string) ([]byte, int64, error) {
	doc, rev, err := r.get(ctx, name)
	if errors.Is(err, ErrNotFound) && r.legacy {
		keys := append(r.k.document(name), r.k.legacyDocument(name)...)
		moved, merr := migrateDoc.Run(ctx, r.c, keys).Int()
		if merr != nil {
			return nil, 0, fmt.Errorf("redis: moving the %s document to its new keys: %w", name, merr)
		}
		if moved == 1 {
			return r.get(ctx, name)
		}
	}
	return doc, rev, err
}

func (r *redisDocuments) get(ctx context.Context, name string) ([]byte, int64, error) {
	v, err := getDoc.Run(ctx, r.c, r.k.document(name)).Slice()
	if err != nil {
		return nil, 0, fmt.Errorf("redis: reading the %s document: %w", name, err)
	}
	if len(v) != 2 {
		return nil, 0, fmt.Errorf("redis: reading the %s document: %d values, want 2", name, len(v))
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

func (r *redisDocuments) CASDocument(ctx context.Context, name string, doc []byte, expect int64) (int64, error) {
	rev, err := casDoc.Run(ctx, r.c, r.k.document(name), doc, expect).Int64()
	if err != nil {
		return 0, fmt.Errorf("redis: writing the %s document: %w", name, err)
	}
	if rev < 0 {
		return 0, ErrConflict
	}
	return rev, nil
}

func (r *redisDocuments) DocumentRevision(ctx context.Context, name string) (int64, error) {
	rev, err := r.c.Get(ctx, r.k.document(name)[1]).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("redis: reading the %s revision: %w", name, err)
	}
	return rev, nil
}

func (r *redisDocuments) RestoreDocument(ctx context.Context, name string, doc []byte, rev int64) (bool, error) {
	if rev < 1 {
		return false, fmt.Errorf("restoring the %s document: revision %d, want at least 1", name, rev)
	}
	n, err := restoreDoc.Run(ctx, r.c, r.k.document(name), doc, rev).Int()
	if err != nil {
		return false, fmt.Errorf("redis: restoring the %s document: %w", name, err)
	}
	return n == 1, nil
}

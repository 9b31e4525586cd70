package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// redisHistory is History on Redis: records in a hash, their order in a
// sorted set beside it (one hash tag), trimmed by a script.
type redisHistory struct {
	c    redis.UniversalClient
	keys []string
}

func newRedisHistory(c redis.UniversalClient, k keys) *redisHistory {
	return &redisHistory{c: c, keys: []string{k.prefix + "hist:{h}", k.prefix + "hist:{h}:order"}}
}

// putRecord merges and stores a record as mergeRecord does. ARGV: ID,
// record (JSON), order, keep, whether the record has ended ('1'), whether
// it has a class ('1'). A record without a class is encoded without its
// "class" member, which goes right before "cluster" (QueryRecord's field
// order): a quote inside a JSON string is escaped, so the first ,"cluster":
// of the document is the member's. A recorded value that is not a JSON
// object is replaced.
var putRecord = redis.NewScript(`
local rec = ARGV[2]
if ARGV[5] ~= '1' or ARGV[6] ~= '1' then
  local raw = redis.call('HGET', KEYS[1], ARGV[1])
  local ok, old = false, nil
  if raw then ok, old = pcall(cjson.decode, raw) end
  if ok and type(old) == 'table' then
    if old.ended and ARGV[5] ~= '1' then return 0 end
    if ARGV[6] ~= '1' and type(old.class) == 'string' and old.class ~= '' then
      local i = string.find(rec, ',"cluster":', 1, true)
      if i then rec = rec:sub(1, i) .. '"class":' .. cjson.encode(old.class) .. rec:sub(i) end
    end
  end
end
redis.call('HSET', KEYS[1], ARGV[1], rec)
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[4])
if over > 0 then
  for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, over - 1)) do
    redis.call('HDEL', KEYS[1], id)
  end
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, over - 1)
end
return 1`)

var recentRecords = redis.NewScript(`
local ids = redis.call('ZREVRANGE', KEYS[2], 0, tonumber(ARGV[1]) - 1)
if #ids == 0 then return {} end
return redis.call('HMGET', KEYS[1], unpack(ids))`)

func (h *redisHistory) PutQuery(ctx context.Context, r QueryRecord, keep int) error {
	b, err := encodeRecord(r)
	if err != nil {
		return err
	}
	if keep < 1 {
		keep = 1
	}
	if err := putRecord.Run(ctx, h.c, h.keys, r.QueryID, b, r.orderKey(), keep, flag(!r.Ended.IsZero()), flag(r.Class != "")).Err(); err != nil {
		return fmt.Errorf("redis: recording query %s: %w", r.QueryID, err)
	}
	return nil
}

func (h *redisHistory) GetQuery(ctx context.Context, id string) (QueryRecord, error) {
	b, err := h.c.HGet(ctx, h.keys[0], id).Bytes()
	if errors.Is(err, redis.Nil) {
		return QueryRecord{}, ErrNotFound
	}
	if err != nil {
		return QueryRecord{}, fmt.Errorf("redis: reading query %s: %w", id, err)
	}
	return decodeRecord(b)
}

func (h *redisHistory) RecentQueries(ctx context.Context, n int) ([]QueryRecord, error) {
	if n < 1 {
		return nil, nil
	}
	v, err := recentRecords.Run(ctx, h.c, h.keys, n).Slice()
	if err != nil {
		return nil, fmt.Errorf("redis: reading the query history: %w", err)
	}
	out := make([]QueryRecord, 0, len(v))
	for _, x := range v {
		s, ok := x.(string)
		if !ok {
			continue // trimmed between the two reads
		}
		r, err := decodeRecord([]byte(s))
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisLeases is Leases on Redis: the lease is a key holding
// "holder<TAB>token" that expires with the lease; its fencing counter is a
// key beside it (same hash slot) that never expires.
type redisLeases struct {
	c   redis.UniversalClient
	k   keys
	now func() time.Time
}

var (
	acquireLease = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur then
  local sep = string.find(cur, '\t', 1, true)
  if sep then
    local tok = tonumber(string.sub(cur, sep + 1))
    if string.sub(cur, 1, sep - 1) ~= ARGV[1] then return {0, tok} end
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return {1, tok}
  end
end
local tok = redis.call('INCR', KEYS[2])
local floor = tonumber(ARGV[3])
if tok <= floor then
  tok = floor + 1
  redis.call('SET', KEYS[2], tok)
end
redis.call('SET', KEYS[1], ARGV[1] .. '\t' .. tok, 'PX', ARGV[2])
return {1, tok}`)
	renewLease = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`)
	releaseLease = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1`)
)

func leaseValue(l Lease) string { return l.Holder + "\t" + strconv.FormatInt(l.Token, 10) }

func checkLeaseArgs(holder string, ttl time.Duration) error {
	if holder == "" || strings.ContainsAny(holder, "\t\n") {
		return fmt.Errorf("lease holder %q: must be non-empty, without tabs or newlines", holder)
	}
	if ttl < time.Millisecond {
		return fmt.Errorf("lease ttl %v: must be at least 1ms", ttl)
	}
	return nil
}

func (r *redisLeases) Acquire(ctx context.Context, name, holder string, ttl time.Duration, atLeast int64) (Lease, error) {
	if err := checkLeaseArgs(holder, ttl); err != nil {
		return Lease{}, err
	}
	// The lease may end ttl after the script ran, which is after now:
	// measured from before the call, the holder's view is never late.
	expires := r.now().Add(ttl)
	v, err := acquireLease.Run(ctx, r.c, r.k.lease(name), holder, ttl.Milliseconds(), atLeast).Int64Slice()
	if err != nil {
		return Lease{}, fmt.Errorf("redis: acquiring lease %s: %w", name, err)
	}
	if len(v) != 2 {
		return Lease{}, fmt.Errorf("redis: acquiring lease %s: %d values, want 2", name, len(v))
	}
	if v[0] != 1 {
		return Lease{}, ErrHeld
	}
	return Lease{Name: name, Holder: holder, Token: v[1], Expires: expires}, nil
}

func (r *redisLeases) Renew(ctx context.Context, l Lease, ttl time.Duration) (Lease, error) {
	if err := checkLeaseArgs(l.Holder, ttl); err != nil {
		return Lease{}, err
	}
	expires := r.now().Add(ttl) // before the call, as in Acquire
	ok, err := renewLease.Run(ctx, r.c, r.k.lease(l.Name)[:1], leaseValue(l), ttl.Milliseconds()).Int()
	if err != nil {
		return Lease{}, fmt.Errorf("redis: renewing lease %s: %w", l.Name, err)
	}
	if ok != 1 {
		return Lease{}, ErrLost
	}
	l.Expires = expires
	return l, nil
}

func (r *redisLeases) Release(ctx context.Context, l Lease) error {
	ok, err := releaseLease.Run(ctx, r.c, r.k.lease(l.Name)[:1], leaseValue(l)).Int()
	if err != nil {
		return fmt.Errorf("redis: releasing lease %s: %w", l.Name, err)
	}
	if ok != 1 {
		return ErrLost
	}
	return nil
}

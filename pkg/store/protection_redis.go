package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisProtection is Protection on Redis. Every call is one round trip
// (a command, a pipeline, a MULTI or a script); the keys one call touches
// share a hash tag:
//
//	prot:inc:{<fingerprint>}      list of incidents, newest first, trimmed, with a TTL
//	prot:inc:{<fingerprint>}:q    the fingerprint's quarantine, expiring at its Until
//	prot:{thr}                    hash: user -> throttle
//	prot:{thr}:until              sorted set: user -> Until (ms), to drop ended throttles
//	prot:claim:<key>              a claim's holder, expiring with the claim
//	prot:{act}                    list of actions, newest first, trimmed
//	prot:{act}:q:<query ID>       list of one query's actions, with a TTL
//
// Fingerprints, claim keys and query IDs go into keys through keyPart.
type redisProtection struct {
	c   redis.UniversalClient
	k   keys
	now func() time.Time
}

// incidents returns a fingerprint's list key and its quarantine's.
func (k keys) incidents(fingerprint string) []string {
	tag := k.prefix + "prot:inc:{" + keyPart(fingerprint) + "}"
	return []string{tag, tag + ":q"}
}

// throttles returns the throttles' hash and their end times' sorted set.
func (k keys) throttles() []string {
	return []string{k.prefix + "prot:{thr}", k.prefix + "prot:{thr}:until"}
}

func (k keys) claim(key string) string { return k.prefix + "prot:claim:" + keyPart(key) }

// actions returns the action log's key and a query's action list's.
func (k keys) actions(queryID string) []string {
	return []string{k.prefix + "prot:{act}", k.prefix + "prot:{act}:q:" + keyPart(queryID)}
}

var (
	// KEYS: throttles, their ends; ARGV: user, throttle, until (ms), now
	// (ms). Ended throttles go first.
	protSetThrottle = redis.NewScript(`
local ended = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[4])
for _, u in ipairs(ended) do redis.call('HDEL', KEYS[1], u) end
if #ended > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[4]) end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1`)
	// KEYS: throttles, their ends; ARGV: user, now (ms). 1 if the removed
	// throttle was live.
	protRemoveThrottle = redis.NewScript(`
local untl = redis.call('ZSCORE', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if untl and tonumber(untl) > tonumber(ARGV[2]) then return 1 end
return 0`)
)

func (r *redisProtection) RecordIncident(ctx context.Context, in Incident, ttl time.Duration, keep int) error {
	ttl, err := prepareIncident(&in, ttl, r.now())
	if err != nil {
		return err
	}
	b, err := encodeJSON("incident", in)
	if err != nil {
		return err
	}
	k := r.k.incidents(in.Fingerprint)
	if in.Kind == IncidentQuarantine {
		err = r.c.Set(ctx, k[1], b, ttl).Err()
	} else {
		_, err = r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.LPush(ctx, k[0], b)
			p.LTrim(ctx, k[0], 0, int64(max(keep, 1))-1)
			p.PExpire(ctx, k[0], ttl)
			return nil
		})
	}
	if err != nil {
		return fmt.Errorf("redis: recording an incident of %s: %w", in.Fingerprint, err)
	}
	return nil
}

func (r *redisProtection) Incidents(ctx context.Context, fingerprint string) ([]Incident, error) {
	if err := checkFingerprint(fingerprint); err != nil {
		return nil, err
	}
	k := r.k.incidents(fingerprint)
	var list *redis.StringSliceCmd
	var quarantine *redis.StringCmd
	_, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		list = p.LRange(ctx, k[0], 0, -1)
		quarantine = p.Get(ctx, k[1])
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) { // Nil: no quarantine
		return nil, fmt.Errorf("redis: reading the incidents of %s: %w", fingerprint, err)
	}
	if err := list.Err(); err != nil {
		return nil, fmt.Errorf("redis: reading the incidents of %s: %w", fingerprint, err)
	}
	out := make([]Incident, 0, len(list.Val())+1)
	for _, s := range list.Val() {
		in, err := decodeJSON[Incident]("an incident", s)
		if err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	switch s, err := quarantine.Result(); {
	case errors.Is(err, redis.Nil):
	case err != nil:
		return nil, fmt.Errorf("redis: reading the quarantine of %s: %w", fingerprint, err)
	default:
		q, err := decodeJSON[Incident]("a quarantine", s)
		if err != nil {
			return nil, err
		}
		if r.now().Before(q.Until) { // by this replica's clock, as in memory
			out = append(out, q)
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	newestFirst(out)
	return out, nil
}

func (r *redisProtection) ReleaseFingerprint(ctx context.Context, fingerprint string) error {
	if err := checkFingerprint(fingerprint); err != nil {
		return err
	}
	n, err := r.c.Del(ctx, r.k.incidents(fingerprint)...).Result()
	if err != nil {
		return fmt.Errorf("redis: releasing %s: %w", fingerprint, err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

func (r *redisProtection) SetThrottle(ctx context.Context, t Throttle) error {
	now := r.now()
	if _, err := prepareThrottle(&t, now); err != nil {
		return err
	}
	b, err := encodeJSON("throttle", t)
	if err != nil {
		return err
	}
	if err := protSetThrottle.Run(ctx, r.c, r.k.throttles(), t.User, b, t.Until.UnixMilli(), now.UnixMilli()).Err(); err != nil {
		return fmt.Errorf("redis: throttling %s: %w", t.User, err)
	}
	return nil
}

func (r *redisProtection) GetThrottle(ctx context.Context, user string) (Throttle, error) {
	if err := checkField("throttle user", user); err != nil {
		return Throttle{}, err
	}
	s, err := r.c.HGet(ctx, r.k.throttles()[0], user).Result()
	if errors.Is(err, redis.Nil) {
		return Throttle{}, ErrNotFound
	}
	if err != nil {
		return Throttle{}, fmt.Errorf("redis: reading the throttle of %s: %w", user, err)
	}
	t, err := decodeJSON[Throttle]("a throttle", s)
	if err != nil {
		return Throttle{}, err
	}
	if !r.now().Before(t.Until) {
		return Throttle{}, ErrNotFound
	}
	return t, nil
}

func (r *redisProtection) Throttles(ctx context.Context) ([]Throttle, error) {
	all, err := r.c.HGetAll(ctx, r.k.throttles()[0]).Result()
	if err != nil {
		return nil, fmt.Errorf("redis: reading the throttles: %w", err)
	}
	now := r.now()
	var out []Throttle
	for _, s := range all {
		t, err := decodeJSON[Throttle]("a throttle", s)
		if err != nil {
			return nil, err
		}
		if now.Before(t.Until) {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].User < out[j].User })
	return out, nil
}

func (r *redisProtection) RemoveThrottle(ctx context.Context, user string) error {
	if err := checkField("throttle user", user); err != nil {
		return err
	}
	live, err := protRemoveThrottle.Run(ctx, r.c, r.k.throttles(), user, r.now().UnixMilli()).Int()
	if err != nil {
		return fmt.Errorf("redis: removing the throttle of %s: %w", user, err)
	}
	if live != 1 {
		return ErrNotFound
	}
	return nil
}

func (r *redisProtection) Claim(ctx context.Context, key, holder string, ttl time.Duration) (bool, error) {
	if err := checkClaim(key, holder, ttl); err != nil {
		return false, err
	}
	ok, err := r.c.SetNX(ctx, r.k.claim(key), holder, ttl).Result() // SET NX PX
	if err != nil {
		return false, fmt.Errorf("redis: claiming %s: %w", key, err)
	}
	return ok, nil
}

func (r *redisProtection) AddAction(ctx context.Context, a Action, keep int) error {
	keep, err := prepareAction(&a, keep, r.now())
	if err != nil {
		return err
	}
	b, err := encodeJSON("action", a)
	if err != nil {
		return err
	}
	k := r.k.actions(a.QueryID)
	_, err = r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.LPush(ctx, k[0], b)
		p.LTrim(ctx, k[0], 0, int64(keep)-1)
		if a.QueryID != "" {
			p.LPush(ctx, k[1], b)
			p.LTrim(ctx, k[1], 0, QueryActionsKeep-1)
			p.PExpire(ctx, k[1], QueryActionsTTL)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis: recording a %s action: %w", a.Action, err)
	}
	return nil
}

func (r *redisProtection) RecentActions(ctx context.Context, n int) ([]Action, error) {
	if n < 1 {
		return nil, nil
	}
	return r.actionList(ctx, r.k.actions("")[0], int64(n)-1, "the action log")
}

func (r *redisProtection) QueryActions(ctx context.Context, queryID string) ([]Action, error) {
	if err := checkField("query ID", queryID); err != nil {
		return nil, err
	}
	return r.actionList(ctx, r.k.actions(queryID)[1], -1, "the actions of "+queryID)
}

func (r *redisProtection) actionList(ctx context.Context, key string, stop int64, what string) ([]Action, error) {
	v, err := r.c.LRange(ctx, key, 0, stop).Result()
	if err != nil {
		return nil, fmt.Errorf("redis: reading %s: %w", what, err)
	}
	out := make([]Action, 0, len(v))
	for _, s := range v {
		a, err := decodeJSON[Action]("an action", s)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

package store

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// redisAudit is Audit on Redis: a list, newest first, trimmed as it
// grows (LPUSH and LTRIM in one transaction: one round trip).
type redisAudit struct {
	c   redis.UniversalClient
	key string
}

func newRedisAudit(c redis.UniversalClient, k keys) *redisAudit {
	return &redisAudit{c: c, key: k.prefix + "audit"}
}

func (a *redisAudit) Record(ctx context.Context, e AuditEntry, keep int) error {
	b, err := encodeAudit(e)
	if err != nil {
		return err
	}
	if keep < 1 {
		keep = 1
	}
	_, err = a.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.LPush(ctx, a.key, b)
		p.LTrim(ctx, a.key, 0, int64(keep)-1)
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis: recording an audit entry: %w", err)
	}
	return nil
}

func (a *redisAudit) Recent(ctx context.Context, n int) ([]AuditEntry, error) {
	if n < 1 {
		return nil, nil
	}
	v, err := a.c.LRange(ctx, a.key, 0, int64(n)-1).Result()
	if err != nil {
		return nil, fmt.Errorf("redis: reading the audit log: %w", err)
	}
	out := make([]AuditEntry, 0, len(v))
	for _, s := range v {
		e, err := decodeAudit([]byte(s))
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

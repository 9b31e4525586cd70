package store

import (
	"context"
	"time"
)

// memReplays is Replays in process memory, kept encoded.
type memReplays struct{ m memTTL[[]byte] }

func newMemReplays(now func() time.Time) *memReplays {
	return &memReplays{m: newMemTTL[[]byte](now)}
}

func (r *memReplays) PutReplay(_ context.Context, id string, rp Replay, ttl time.Duration) error {
	b, err := encodeReplay(id, rp)
	if err != nil {
		return err
	}
	r.m.put(id, b, ttl)
	return nil
}

func (r *memReplays) GetReplay(_ context.Context, id string) (Replay, error) {
	b, ok := r.m.get(id, 0)
	if !ok {
		return Replay{}, ErrNotFound
	}
	return decodeReplay(id, b)
}

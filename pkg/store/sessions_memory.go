package store

import (
	"context"
	"time"
)

// memSessions is Sessions in process memory, kept encoded.
type memSessions struct{ m memTTL[[]byte] }

func newMemSessions(now func() time.Time) *memSessions {
	return &memSessions{m: newMemTTL[[]byte](now)}
}

func (s *memSessions) PutSession(_ context.Context, id string, cs ClientSession, ttl time.Duration) error {
	b, err := encodeSession(id, cs)
	if err != nil {
		return err
	}
	s.m.put(id, b, ttl)
	return nil
}

func (s *memSessions) GetSession(_ context.Context, id string, ttl time.Duration) (ClientSession, error) {
	b, ok := s.m.get(id, ttl)
	if !ok {
		return ClientSession{}, ErrNotFound
	}
	return decodeSession(id, b)
}

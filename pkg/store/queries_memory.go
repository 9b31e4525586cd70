package store

import (
	"context"
	"time"
)

// memQueries is Queries in process memory: queries under their ID,
// transactions under "txn:" + ID.
type memQueries struct{ m memTTL[QueryRoute] }

func newMemQueries(now func() time.Time) *memQueries {
	return &memQueries{m: newMemTTL[QueryRoute](now)}
}

func (q *memQueries) get(key string) (QueryRoute, error) {
	r, ok := q.m.get(key, 0)
	if !ok {
		return QueryRoute{}, ErrNotFound
	}
	return r, nil
}

func (q *memQueries) PutQuery(_ context.Context, id string, r QueryRoute, ttl time.Duration) error {
	q.m.put(id, r.normalized(), ttl)
	return nil
}

func (q *memQueries) GetQuery(_ context.Context, id string) (QueryRoute, error) {
	return q.get(id)
}

// Query IDs never contain ':' (trino.ValidQueryID), so transactions cannot
// collide with them.
func (q *memQueries) PutTransaction(_ context.Context, id string, r QueryRoute, ttl time.Duration) error {
	q.m.put("txn:"+id, r.normalized(), ttl)
	return nil
}

func (q *memQueries) GetTransaction(_ context.Context, id string) (QueryRoute, error) {
	return q.get("txn:" + id)
}

func (q *memQueries) len() int { return q.m.len() }

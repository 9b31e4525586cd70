package doctor

import (
	"context"
	"sync"

	"github.com/switchyard-gw/switchyard/pkg/events"
)

// EventLog remembers which queries' events this control plane received
// (the last n query IDs, by cluster), for the event-listener check. It is
// this replica's: behind a load balancer an event may reach another one.
type EventLog struct {
	mu    sync.Mutex
	n     int
	seen  map[string]string // query ID -> cluster
	order []string
}

// NewEventLog keeps the last n query IDs (n < 1: 1024).
func NewEventLog(n int) *EventLog {
	if n < 1 {
		n = 1024
	}
	return &EventLog{n: n, seen: map[string]string{}}
}

// Record notes an event of a query on cluster.
func (l *EventLog) Record(cluster, queryID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.seen[queryID]; ok {
		l.seen[queryID] = cluster
		return
	}
	if len(l.order) >= l.n {
		delete(l.seen, l.order[0])
		l.order = l.order[1:]
	}
	l.seen[queryID] = cluster
	l.order = append(l.order, queryID)
}

// Seen reports whether an event of queryID came from cluster.
func (l *EventLog) Seen(cluster, queryID string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.seen[queryID]
	return ok && c == cluster
}

// Sink records every event that reaches the control plane, then passes
// it to next (nil: records only). An event next fails to take is still
// recorded: it did arrive (and Trino sends it again).
func (l *EventLog) Sink(next events.Sink) events.Sink {
	return events.SinkFunc(func(ctx context.Context, cluster string, e *events.Event) error {
		l.Record(cluster, e.QueryID)
		if next != nil {
			return next.Ingest(ctx, cluster, e)
		}
		return nil
	})
}

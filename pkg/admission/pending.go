package admission

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard-gw/switchyard/pkg/degraded"
	"github.com/switchyard-gw/switchyard/pkg/store"
)

// ErrDeferred marks a query-owner record that the store did not take in
// time and that PendingRecords keeps to write when the store answers.
var ErrDeferred = errors.New("kept to be written when the shared store answers")

// DefaultPendingMax bounds the records kept while the store is down.
const DefaultPendingMax = 10000

// PendingOptions configure PendingRecords.
type PendingOptions struct {
	// Timeout bounds each write, direct or retried. A direct write runs
	// while Envoy waits for the submission's answer within its ext_proc
	// message timeout, so Timeout must stay well below it: past that
	// timeout Envoy resets the client's connection.
	Timeout time.Duration
	// Max is how many records are kept (default DefaultPendingMax); beyond
	// it the oldest is dropped and counted.
	Max int
	// MinBackoff and MaxBackoff bound the wait between retry rounds while
	// the store fails (defaults 100ms and 5s).
	MinBackoff, MaxBackoff time.Duration
	Logger                 *slog.Logger
	// Degraded logs the outage once per interval (default: one on Logger).
	Degraded *degraded.Reporter
	// Registerer gets the metrics (nil: unregistered).
	Registerer prometheus.Registerer
	// Now is the clock (tests use a fake one).
	Now func() time.Time
}

// PendingRecords is the store of query owners with a write-behind queue:
// a record the store does not take (Redis down or slow) is kept in
// process, bounded, and written by Run when the store answers again, so a
// submission never waits for Redis longer than the store timeout and its
// owner is recorded all the same. GetQuery answers from the queue first,
// so a request about a query submitted during the outage still finds its
// owner on this replica. Transactions pass through.
//
// A query's owner is written once, when it is submitted; a record that is
// queued and then written directly by a later PutQuery is dropped from the
// queue, so the queue never overwrites a newer record.
type PendingRecords struct {
	store.Queries
	o PendingOptions
	m pendingMetrics

	mu    sync.Mutex
	queue *list.List               // of *pendingRecord, oldest first
	byID  map[string]*list.Element // the queue by query ID
	wake  chan struct{}
}

type pendingRecord struct {
	id      string
	route   store.QueryRoute
	expires time.Time
}

type pendingMetrics struct {
	deferred, retried, dropped prometheus.Counter
}

// NewPendingRecords wraps q.
func NewPendingRecords(q store.Queries, o PendingOptions) *PendingRecords {
	if o.Max <= 0 {
		o.Max = DefaultPendingMax
	}
	if o.Timeout <= 0 {
		o.Timeout = 200 * time.Millisecond
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(5*time.Second, o.MinBackoff)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Degraded == nil {
		o.Degraded = degraded.New(degraded.Options{Logger: o.Logger})
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	p := &PendingRecords{Queries: q, o: o, queue: list.New(), byID: map[string]*list.Element{}, wake: make(chan struct{}, 1)}
	p.m = pendingMetrics{
		deferred: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchyard_query_records_deferred_total",
			Help: "Query-owner records the shared store did not take in time, kept to be written when it answers.",
		}),
		retried: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchyard_query_records_retried_total",
			Help: "Deferred query-owner records written to the shared store later.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchyard_query_records_dropped_total",
			Help: "Deferred query-owner records dropped: the oldest beyond the queue's bound, or expired before the store answered.",
		}),
	}
	if o.Registerer != nil {
		o.Registerer.MustRegister(p.m.deferred, p.m.retried, p.m.dropped, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "switchyard_query_records_pending",
			Help: "Query-owner records waiting for the shared store.",
		}, func() float64 { return float64(p.Len()) }))
	}
	return p
}

// condPending is the degraded condition of records waiting for the store.
const condPending = "query-records-pending"

// PutQuery writes the record; if the store fails, the record is kept for
// Run to write and the error, marked ErrDeferred, is returned.
func (p *PendingRecords) PutQuery(ctx context.Context, id string, r store.QueryRoute, ttl time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, p.o.Timeout)
	err := p.Queries.PutQuery(wctx, id, r, ttl)
	cancel()
	if err == nil {
		if p.remove(id) > 0 {
			p.signal() // the store answers again: write the queue now
		}
		return nil
	}
	n := p.add(id, r, ttl)
	p.m.deferred.Inc()
	p.o.Degraded.Fail(condPending, "the shared store does not take query owners; keeping them to write when it answers",
		"pending", n, "error", err)
	return fmt.Errorf("%w (%w)", err, ErrDeferred)
}

// GetQuery answers from the queue first, then from the store.
func (p *PendingRecords) GetQuery(ctx context.Context, id string) (store.QueryRoute, error) {
	if r, ok := p.pending(id); ok {
		return r, nil
	}
	return p.Queries.GetQuery(ctx, id)
}

// Len is the number of records waiting.
func (p *PendingRecords) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.queue.Len()
}

func (p *PendingRecords) add(id string, r store.QueryRoute, ttl time.Duration) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	rec := &pendingRecord{id: id, route: r, expires: p.o.Now().Add(ttl)}
	if e, ok := p.byID[id]; ok {
		p.queue.Remove(e)
	}
	p.byID[id] = p.queue.PushBack(rec)
	for p.queue.Len() > p.o.Max {
		oldest := p.queue.Front()
		p.queue.Remove(oldest)
		delete(p.byID, oldest.Value.(*pendingRecord).id)
		p.m.dropped.Inc()
	}
	p.signal()
	return p.queue.Len()
}

// signal wakes Run.
func (p *PendingRecords) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// remove drops id's record and returns how many are left.
func (p *PendingRecords) remove(id string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e, ok := p.byID[id]; ok {
		p.queue.Remove(e)
		delete(p.byID, id)
	}
	return p.queue.Len()
}

func (p *PendingRecords) pending(id string) (store.QueryRoute, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.byID[id]
	if !ok {
		return store.QueryRoute{}, false
	}
	rec := e.Value.(*pendingRecord)
	if !p.o.Now().Before(rec.expires) {
		return store.QueryRoute{}, false
	}
	return rec.route, true
}

// oldest returns the oldest record, dropping expired ones.
func (p *PendingRecords) oldest() *pendingRecord {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.o.Now()
	for e := p.queue.Front(); e != nil; e = p.queue.Front() {
		rec := e.Value.(*pendingRecord)
		if now.Before(rec.expires) {
			return rec
		}
		p.queue.Remove(e)
		delete(p.byID, rec.id)
		p.m.dropped.Inc()
	}
	return nil
}

// written drops rec from the queue unless a newer record replaced it.
func (p *PendingRecords) written(rec *pendingRecord) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e, ok := p.byID[rec.id]; ok && e.Value.(*pendingRecord) == rec {
		p.queue.Remove(e)
		delete(p.byID, rec.id)
	}
}

// Run writes the queued records, oldest first, until ctx ends: at once
// when one is queued, then, while the store fails, with a backoff that
// doubles from MinBackoff to MaxBackoff. Every replica runs it.
func (p *PendingRecords) Run(ctx context.Context) {
	backoff := p.o.MinBackoff
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		case <-timer.C:
		}
		if p.Flush(ctx) {
			backoff = p.o.MinBackoff
			continue
		}
		timer.Reset(backoff)
		backoff = min(2*backoff, p.o.MaxBackoff)
	}
}

// Flush writes queued records, oldest first, until the queue is empty
// (true) or a write fails (false; the rest stay queued).
func (p *PendingRecords) Flush(ctx context.Context) bool {
	written := 0
	for {
		rec := p.oldest()
		if rec == nil {
			p.o.Degraded.Recover(condPending, "the shared store takes query owners again; none is waiting", "written", written)
			return true
		}
		ttl := rec.expires.Sub(p.o.Now())
		wctx, cancel := context.WithTimeout(ctx, p.o.Timeout)
		err := p.Queries.PutQuery(wctx, rec.id, rec.route, ttl)
		cancel()
		if err != nil {
			p.o.Degraded.Fail(condPending, "the shared store does not take query owners; keeping them to write when it answers",
				"pending", p.Len(), "error", err)
			return false
		}
		p.written(rec)
		p.m.retried.Inc()
		written++
	}
}

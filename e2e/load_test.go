package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/e2e/harness"
)

// ranQuery is one query of a load loop.
type ranQuery struct {
	ID          string
	Owner       string // cluster from the nextUri prefix
	Coordinator string // coordinator from the nextUri prefix
	Start, End  time.Time
	Answered    time.Time // the submission's answer arrived
	Err         error
	SubmitErr   bool // the submission itself failed (not a later poll)
	// Retries counts the 502-504 answers to its polls that were retried
	// (harness.FetchRetries): transient errors a client would have seen
	// even when the query succeeded in the end.
	Retries int
	Open    bool // started by the open-loop submitter
}

// loadSpec is a load: Clients closed-loop clients, each running one query
// after another, plus an open-loop submitter that starts a query every
// 1/Rate seconds whatever the previous ones do (as independent users do),
// with at most MaxInFlight of its queries running at once (a tick beyond
// that is skipped and counted). The load stops at finish, at the end of
// the test, or after loadMaxDuration, whichever comes first.
type loadSpec struct {
	Clients     int
	Rate        float64 // open-loop submissions per second; 0: none
	MaxInFlight int     // of the open loop; 0: 16
	SQL         string
}

// loadMaxDuration bounds any load in time; loadMaxQueries in count.
const (
	loadMaxDuration = 5 * time.Minute
	loadMaxQueries  = 5000
)

// loadLoop runs a loadSpec through the gateway.
type loadLoop struct {
	spec    loadSpec
	started time.Time
	cancel  context.CancelFunc
	once    sync.Once
	wg      sync.WaitGroup
	stopped time.Time // submissions stopped
	drained time.Time // the last query in flight ended

	mu      sync.Mutex
	queries []ranQuery

	total    atomic.Int64 // queries started, both loops
	inFlight atomic.Int64 // queries running now, both loops
	peak     atomic.Int64 // most queries running at once
	openRun  atomic.Int64 // open-loop queries running now
	skipped  atomic.Int64 // open-loop ticks skipped at MaxInFlight
}

// startLoad starts the load; it is stopped by finish or when the test ends.
func startLoad(t *testing.T, server string, spec loadSpec) *loadLoop {
	t.Helper()
	if spec.MaxInFlight == 0 {
		spec.MaxInFlight = 16
	}
	ctx, cancel := context.WithTimeout(context.Background(), loadMaxDuration)
	l := &loadLoop{spec: spec, started: time.Now(), cancel: cancel}
	t.Cleanup(func() { l.finish() })
	for i := range spec.Clients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for n := 0; ctx.Err() == nil && l.total.Add(1) <= loadMaxQueries; n++ {
				l.record(server, fmt.Sprintf("%s /* client %d query %d */", spec.SQL, i, n), false)
			}
		}()
	}
	if spec.Rate > 0 {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			tick := time.NewTicker(time.Duration(float64(time.Second) / spec.Rate))
			defer tick.Stop()
			for n := 0; ; n++ {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				if l.openRun.Load() >= int64(spec.MaxInFlight) {
					l.skipped.Add(1)
					continue
				}
				if l.total.Add(1) > loadMaxQueries {
					return
				}
				l.openRun.Add(1)
				l.wg.Add(1)
				go func() {
					defer l.wg.Done()
					defer l.openRun.Add(-1)
					l.record(server, fmt.Sprintf("%s /* open loop query %d */", spec.SQL, n), true)
				}()
			}
		}()
	}
	return l
}

// record runs one query and keeps its outcome.
func (l *loadLoop) record(server, sql string, open bool) {
	n := l.inFlight.Add(1)
	for p := l.peak.Load(); n > p && !l.peak.CompareAndSwap(p, n); p = l.peak.Load() {
	}
	q := track(server, sql)
	l.inFlight.Add(-1)
	q.Open = open
	l.mu.Lock()
	l.queries = append(l.queries, q)
	l.mu.Unlock()
}

// finish stops the load, waits for the queries in flight and returns every
// query it ran.
func (l *loadLoop) finish() []ranQuery {
	l.once.Do(func() {
		l.cancel()
		l.stopped = time.Now()
		l.wg.Wait()
		l.drained = time.Now()
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]ranQuery(nil), l.queries...)
}

// loadStats is what a finished load achieved.
type loadStats struct {
	Queries, Open, Skipped, Retries int
	Peak                            int64         // most queries in flight at once
	Elapsed                         time.Duration // while queries were submitted
	Drain                           time.Duration // then until the last one ended
}

func (l *loadLoop) stats() loadStats {
	qs := l.finish()
	s := loadStats{Queries: len(qs), Skipped: int(l.skipped.Load()), Peak: l.peak.Load(),
		Elapsed: l.stopped.Sub(l.started), Drain: l.drained.Sub(l.stopped)}
	for _, q := range qs {
		s.Retries += q.Retries
		if q.Open {
			s.Open++
		}
	}
	return s
}

// String states the load asked for and what it achieved.
func (s loadStats) String() string {
	secs := s.Elapsed.Seconds()
	return fmt.Sprintf("%d queries submitted in %v (%.1f/s; %d from the open loop, %.1f/s achieved, %d ticks skipped at the in-flight limit), the last done %v later; at most %d in flight at once; %d poll retries of 502-504",
		s.Queries, s.Elapsed.Round(time.Millisecond), float64(s.Queries)/secs, s.Open, float64(s.Open)/secs, s.Skipped, s.Drain.Round(time.Millisecond), s.Peak, s.Retries)
}

// requireConcurrent fails unless the load really ran queries side by side
// and its open loop submitted some: a load of one query at a time would
// make an "under load" claim vacuous.
func (l *loadLoop) requireConcurrent(t *testing.T) loadStats {
	t.Helper()
	s := l.stats()
	t.Logf("load (%d closed-loop clients, open loop at %.1f/s, at most %d open in flight): %v", l.spec.Clients, l.spec.Rate, l.spec.MaxInFlight, s)
	if s.Peak < 2 {
		t.Errorf("at most %d query in flight at once, want concurrent queries", s.Peak)
	}
	if l.spec.Rate > 0 && s.Open == 0 {
		t.Errorf("the open loop at %.1f/s submitted no query", l.spec.Rate)
	}
	return s
}

// requireNoRetries fails for every query whose polls were answered 502-504
// (and retried) at least once: where a test claims nothing was dropped, a
// transient error a client retried counts.
func requireNoRetries(t *testing.T, qs []ranQuery) {
	t.Helper()
	for _, q := range qs {
		if q.Retries > 0 {
			t.Errorf("query %s (owner %s) needed %d poll retries of 502-504 answers, want none", q.ID, q.Owner, q.Retries)
		}
	}
}

// waitQueries waits until the load has run at least n more queries.
func (l *loadLoop) waitQueries(t *testing.T, n int) {
	t.Helper()
	l.mu.Lock()
	target := len(l.queries) + n
	l.mu.Unlock()
	err := harness.Poll(context.Background(), fmt.Sprintf("%d more queries", n), 2*time.Minute, 50*time.Millisecond, func() error {
		l.mu.Lock()
		defer l.mu.Unlock()
		if len(l.queries) < target {
			return fmt.Errorf("%d of %d", len(l.queries), target)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// track runs one query like a client (following nextUri to the end) and
// records where it ran, how it ended and how many poll retries it needed.
func track(server, sql string) ranQuery {
	q := ranQuery{Start: time.Now()}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	qr, err := harness.Submit(ctx, server, "e2e", sql, nil)
	if err == nil && qr.Error != nil {
		err = fmt.Errorf("%s: %s", qr.Error.ErrorName, qr.Error.Message)
	}
	if err != nil {
		q.Err, q.SubmitErr, q.End = err, true, time.Now()
		return q
	}
	q.ID, q.Answered = qr.ID, time.Now()
	if parts := strings.Split(qr.NextURI, "/"); len(parts) > 5 && parts[3] == "_sy" {
		q.Owner, q.Coordinator = parts[4], parts[5]
	}
	for qr.NextURI != "" && qr.Error == nil {
		var retries int
		qr, retries, err = harness.FetchRetries(ctx, http.MethodGet, qr.NextURI)
		q.Retries += retries
		if err != nil {
			q.Err, q.End = err, time.Now()
			return q
		}
	}
	if qr.Error != nil {
		q.Err = fmt.Errorf("%s: %s", qr.Error.ErrorName, qr.Error.Message)
	}
	q.End = time.Now()
	return q
}

const loadSQL = "SELECT count(*), sum(totalprice) FROM tpch.tiny.orders"

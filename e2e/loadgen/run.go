package loadgen

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Run generates load as cfg describes and returns the results of the
// measured window. It ends when Duration has elapsed after warm-up, when
// MaxQueries measured queries have ended, or when ctx is cancelled; in the
// last case it returns the partial results (Interrupted set) together with
// an error wrapping ctx.Err().
func Run(ctx context.Context, cfg Config) (*Results, error) {
	cfg, err := cfg.normalize()
	if err != nil {
		return nil, fmt.Errorf("load generator configuration: %w", err)
	}
	rec := newRecorder()
	c := newClient(ctx, cfg, rec)
	defer c.transport.CloseIdleConnections()

	start := time.Now()
	l := &loop{cfg: cfg, c: c, rec: rec, measureStart: start.Add(cfg.Warmup)}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var deadline time.Time
	var deadlineHit atomic.Bool
	if cfg.Duration > 0 {
		deadline = l.measureStart.Add(cfg.Duration)
		t := time.AfterFunc(time.Until(deadline), func() {
			deadlineHit.Store(true)
			stop()
		})
		defer t.Stop()
	}
	var sampler *Sampler
	if len(cfg.PIDs) > 0 {
		sampler = NewSampler(cfg.PIDs, cfg.SampleInterval)
		if cfg.Warmup <= 0 {
			sampler.Start() // at once: a short run may end before a timer fires
		} else {
			t := time.AfterFunc(cfg.Warmup, sampler.Start)
			defer t.Stop()
		}
	}

	if cfg.openLoop() {
		l.open(runCtx, start)
	} else {
		l.closed(runCtx)
	}

	end := time.Now()
	if deadlineHit.Load() && end.After(deadline) {
		end = deadline
	}
	var procs map[string]ProcResult
	if sampler != nil {
		procs = sampler.Stop()
	}
	res := rec.results(cfg, l.measureStart, end)
	res.Processes = procs
	if err := ctx.Err(); err != nil {
		res.Interrupted = true
		return res, fmt.Errorf("load run interrupted: %w", err)
	}
	return res, nil
}

// loop drives queries in one of the two modes.
type loop struct {
	cfg          Config
	c            *client
	rec          *recorder
	measureStart time.Time
}

// claim reserves a measured query; it reports false once MaxQueries have
// been started.
func (l *loop) claim() bool {
	for {
		n := l.rec.started.Load()
		if l.cfg.MaxQueries > 0 && n >= l.cfg.MaxQueries {
			return false
		}
		if l.rec.started.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// runQuery runs one query and counts its outcome.
func (l *loop) runQuery(ctx context.Context, measured bool, start time.Time) {
	o := l.c.run(ctx, measured, start)
	if !measured {
		return
	}
	switch o {
	case outcomeCompleted:
		l.rec.completed.Add(1)
	case outcomeFailed:
		l.rec.failed.Add(1)
	default:
		l.rec.aborted.Add(1)
	}
}

// closed runs Concurrency workers, each starting a query as soon as its
// previous one has ended.
func (l *loop) closed(ctx context.Context) {
	var wg sync.WaitGroup
	for range l.cfg.Concurrency {
		wg.Go(func() {
			for ctx.Err() == nil {
				now := time.Now()
				measured := !now.Before(l.measureStart)
				if measured {
					if !l.claim() {
						return
					}
				} else {
					l.rec.warmup.Add(1)
				}
				l.runQuery(ctx, measured, now)
			}
		})
	}
	wg.Wait()
}

// open starts queries at Rate per second on a fixed schedule from start,
// whatever the completions, at most MaxInFlight at a time. A start the
// scheduler is late for is made at once (catching up), so the long-run rate
// holds.
func (l *loop) open(ctx context.Context, start time.Time) {
	var wg sync.WaitGroup
	defer wg.Wait()
	var inFlight atomic.Int64
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	perQuery := float64(time.Second) / l.cfg.Rate
	for i := int64(0); ; {
		now := time.Now()
		for {
			at := start.Add(time.Duration(float64(i) * perQuery))
			if at.After(now) {
				timer.Reset(at.Sub(now))
				break
			}
			if ctx.Err() != nil {
				return
			}
			i++
			measured := !at.Before(l.measureStart)
			if inFlight.Load() >= int64(l.cfg.MaxInFlight) {
				if measured {
					l.rec.dropped.Add(1)
				}
				continue
			}
			if measured {
				if !l.claim() {
					return
				}
			} else {
				l.rec.warmup.Add(1)
			}
			inFlight.Add(1)
			wg.Go(func() {
				defer inFlight.Add(-1)
				l.runQuery(ctx, measured, at)
			})
		}
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
	}
}

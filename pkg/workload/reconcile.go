package workload

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/coordinator"
	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/store"
)

// QueryLister reads a coordinator's query list (GET /v1/query).
type QueryLister interface {
	Queries(ctx context.Context, baseURL, state string) ([]coordinator.QuerySummary, error)
}

// Reconciler checks the fleet's running slots against what the
// coordinators say, once per fleet (under a lease): a slot whose query
// finished is released and its usage charged (the completion event was
// lost), one whose query the coordinator no longer knows or whose
// coordinator stays unreachable is released, one that was never bound to
// a query is released after UnboundGrace, and one whose replica stopped
// renewing it while its query still runs is adopted by this replica.
type Reconciler struct {
	Governor *Governor
	Fleet    func() *fleet.Fleet
	Queries  QueryLister
	// Interval between rounds (default 10s); keep it under a third of the
	// slot TTL so adoption comes before expiry.
	Interval time.Duration
	// UnboundGrace is how long a slot may wait for its query (default
	// 2m): a submission in flight, or an admitted queue entry not yet
	// claimed.
	UnboundGrace time.Duration
	// AbsentGrace is how long after its acquisition a slot's query may
	// be missing from its coordinator's list before the slot is released
	// (default 30s).
	AbsentGrace time.Duration

	mu       sync.Mutex
	failures map[string]int // consecutive failed reads per coordinator
}

// Run reconciles every Interval until ctx ends.
func (r *Reconciler) Run(ctx context.Context) {
	t := time.NewTicker(r.interval())
	defer t.Stop()
	for {
		r.Round(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (r *Reconciler) interval() time.Duration {
	if r.Interval <= 0 {
		return 10 * time.Second
	}
	return r.Interval
}

// Round is one reconciliation: it returns what it did.
func (r *Reconciler) Round(ctx context.Context) RoundResult {
	var res RoundResult
	g := r.Governor
	if cfg, _ := g.Config(); cfg == nil {
		return res
	}
	s, err := g.Snapshot(ctx)
	if err != nil {
		g.o.Logger.Warn("reconciliation cannot read the running slots", "error", err)
		return res
	}
	now := s.Now.UnixMilli()
	unbound := r.UnboundGrace
	if unbound <= 0 {
		unbound = 2 * time.Minute
	}
	absent := r.AbsentGrace
	if absent <= 0 {
		absent = 30 * time.Second
	}
	byCoordinator := map[string][]store.Slot{}
	for _, sl := range s.Slots {
		if sl.QueryID == "" {
			if now-sl.AcquiredMs > unbound.Milliseconds() {
				r.release(ctx, sl, "never submitted", &res)
			}
			continue
		}
		key := fleet.Key(sl.Cluster, sl.Coordinator)
		byCoordinator[key] = append(byCoordinator[key], sl)
	}
	f := r.Fleet()
	var adopt []string
	for key, slots := range byCoordinator {
		sl0 := slots[0]
		c, ok := f.Cluster(sl0.Cluster)
		var co *fleet.Coordinator
		if ok {
			co, ok = c.Coordinator(sl0.Coordinator)
		}
		if !ok {
			for _, sl := range slots {
				r.release(ctx, sl, "cluster or coordinator left the fleet", &res)
			}
			continue
		}
		list, err := r.Queries.Queries(ctx, co.URL, "")
		if err != nil {
			if r.failed(key) < 2 {
				continue
			}
			g.o.Logger.Warn("a coordinator stayed unreachable: releasing the running slots of its queries", "coordinator", key, "slots", len(slots), "error", err)
			for _, sl := range slots {
				r.release(ctx, sl, "coordinator unreachable", &res)
			}
			continue
		}
		r.reached(key)
		known := make(map[string]*coordinator.QuerySummary, len(list))
		for i := range list {
			known[list[i].QueryID] = &list[i]
		}
		for _, sl := range slots {
			q, ok := known[sl.QueryID]
			switch {
			case !ok:
				if now-sl.AcquiredMs > absent.Milliseconds() {
					r.release(ctx, sl, "query unknown to its coordinator", &res)
				}
			case q.State == "FINISHED" || q.State == "FAILED":
				c := store.Completion{QueryID: sl.QueryID, Class: sl.Class, User: sl.User,
					CPUSeconds: q.Stats.CPU.Std().Seconds(), Bytes: float64(q.Stats.PhysicalInput)}
				if out, err := g.Complete(ctx, c); err == nil && out.Released {
					res.Released++
					g.o.Metrics.Reconciled.WithLabelValues("released", "query finished").Inc()
					g.o.Logger.Info("reconciliation released a finished query's slot (its completion event did not arrive)", "query", sl.QueryID, "class", sl.Class, "cluster", sl.Cluster)
				}
			case sl.ExpiresMs-now < g.o.SlotTTL.Milliseconds()/3:
				adopt = append(adopt, sl.ID)
			}
		}
	}
	if len(adopt) > 0 {
		sctx, cancel := g.ctx(ctx)
		err := g.o.Store.Adopt(sctx, g.o.Owner, adopt, g.o.SlotTTL)
		cancel()
		if err == nil {
			for _, id := range adopt {
				g.own(id)
			}
			res.Adopted += len(adopt)
			g.o.Metrics.Reconciled.WithLabelValues("adopted", "replica stopped renewing").Add(float64(len(adopt)))
			g.o.Logger.Info("reconciliation adopted running slots whose replica stopped renewing them", "slots", len(adopt))
		}
	}
	return res
}

// RoundResult is what one round did.
type RoundResult struct {
	Released, Adopted int
}

func (r *Reconciler) release(ctx context.Context, sl store.Slot, why string, res *RoundResult) {
	g := r.Governor
	_, l := g.Config()
	sctx, cancel := g.ctx(ctx)
	ok, err := g.o.Store.Release(sctx, sl.ID, l, g.dispatch())
	cancel()
	if err != nil || !ok {
		return
	}
	g.disown(sl.ID)
	res.Released++
	g.o.Metrics.Reconciled.WithLabelValues("released", why).Inc()
	g.o.Logger.Info("reconciliation released a running slot", "slot", sl.ID, "query", sl.QueryID, "class", sl.Class, "cluster", sl.Cluster, "reason", why)
}

func (r *Reconciler) failed(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failures == nil {
		r.failures = map[string]int{}
	}
	r.failures[key]++
	return r.failures[key]
}

func (r *Reconciler) reached(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.failures, key)
}

// ErrOff is returned when governance is not configured.
var ErrOff = errors.New("workload governance is off: the policy in use defines no data.switchyard.governance")

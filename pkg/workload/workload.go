// Package workload runs workload governance on one control-plane replica
// over the shared store: it turns the policy's class definitions into the
// limits every store call applies, holds this replica's running slots
// (leases it renews while it lives), ticks the queue (expired leases,
// abandoned entries, admissions), reconciles slots against the
// coordinators' query lists so a lost completion or a crashed coordinator
// leaks nothing, and charges completed queries to their class and user.
//
// The admission pipeline asks it for slots (Admit, Enqueue); the queue
// service moves queued submissions on (Poll, Claim, Submitted); Trino's
// event listener reports completions (Complete).
package workload

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sync"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/governance"
	"github.com/switchyard-gw/switchyard/pkg/store"
)

// Options configure a Governor.
type Options struct {
	Store store.Governance
	// Policy returns the governance definitions in use (nil: none; every
	// call then applies no class limits).
	Policy func() *governance.Config
	// Owner names this replica as the holder of its slots' leases.
	Owner string
	// SlotTTL is how long a slot outlives a replica that stopped renewing
	// it (default 30s); renewals come every third of it.
	SlotTTL time.Duration
	// ClaimTimeout bounds one replica's submission of a queued query
	// before another may take it over (default 30s).
	ClaimTimeout time.Duration
	// ClientTimeout drops a queued query no client polled for this long
	// (default 5m, Trino's query.client.timeout).
	ClientTimeout time.Duration
	// Keep is how long an ended queue entry still answers its polls
	// (default 10m).
	Keep time.Duration
	// TickInterval is how often this replica expires leases, drops
	// abandoned entries and admits from the queue (default 1s).
	TickInterval time.Duration
	// MaxQueued bounds the whole queue (default 10000).
	MaxQueued int
	// Scan bounds the queue entries one admission pass looks at (default
	// 500).
	Scan int
	// History keeps the recent queries (nil: none); HistorySize bounds it
	// (default 10000).
	History     store.History
	HistorySize int
	// StoreTimeout bounds each store call (default 1s).
	StoreTimeout time.Duration
	// Throttles returns the users query protection throttles now (user →
	// running queries allowed in a class) and a version that changes
	// whenever they do (nil: nobody is throttled).
	Throttles func() (map[string]int, uint64)
	Logger    *slog.Logger
	Metrics   *Metrics
}

// Governor is workload governance on one replica. Safe for concurrent
// use.
type Governor struct {
	o Options

	mu    sync.Mutex
	owned map[string]struct{} // slots this replica holds the leases of

	lmu  sync.Mutex
	cfg  *governance.Config // the definitions lim was made from
	tver uint64             // and the version of the throttles
	lim  *store.Limits
}

// New returns a governor.
func New(o Options) *Governor {
	if o.Owner == "" {
		o.Owner = DefaultOwner()
	}
	if o.SlotTTL <= 0 {
		o.SlotTTL = 30 * time.Second
	}
	if o.ClaimTimeout <= 0 {
		o.ClaimTimeout = 30 * time.Second
	}
	if o.ClientTimeout <= 0 {
		o.ClientTimeout = 5 * time.Minute
	}
	if o.Keep <= 0 {
		o.Keep = 10 * time.Minute
	}
	if o.TickInterval <= 0 {
		o.TickInterval = time.Second
	}
	if o.MaxQueued <= 0 {
		o.MaxQueued = 10000
	}
	if o.StoreTimeout <= 0 {
		o.StoreTimeout = time.Second
	}
	if o.HistorySize <= 0 {
		o.HistorySize = 10000
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil)
	}
	if o.Policy == nil {
		o.Policy = func() *governance.Config { return nil }
	}
	return &Governor{o: o, owned: map[string]struct{}{}}
}

// DefaultOwner is a new random replica name.
func DefaultOwner() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "replica-" + hex.EncodeToString(b[:])
}

// Metrics are the governor's metrics (the pipeline and the queue count
// admissions on them too).
func (g *Governor) Metrics() *Metrics { return g.o.Metrics }

// Owner names this replica.
func (g *Governor) Owner() string { return g.o.Owner }

// ClaimTimeout bounds one submission of a queued query.
func (g *Governor) ClaimTimeout() time.Duration { return g.o.ClaimTimeout }

// Config returns the governance definitions in use and their limits (nil
// definitions: governance is off).
func (g *Governor) Config() (*governance.Config, *store.Limits) {
	cfg := g.o.Policy()
	var throttled map[string]int
	var ver uint64
	if g.o.Throttles != nil {
		throttled, ver = g.o.Throttles()
	}
	g.lmu.Lock()
	defer g.lmu.Unlock()
	if cfg != g.cfg || g.lim == nil || ver != g.tver {
		g.cfg, g.tver, g.lim = cfg, ver, Limits(cfg, g.o.MaxQueued)
		if len(throttled) > 0 {
			g.lim.Throttled = throttled
		}
	}
	return g.cfg, g.lim
}

// Throttled reports whether query protection throttles user, and to how
// many running queries.
func (g *Governor) Throttled(user string) (int, bool) {
	_, l := g.Config()
	n, ok := l.Throttled[user]
	return n, ok
}

// Limits turns the definitions into the limits store calls apply.
func Limits(cfg *governance.Config, maxQueued int) *store.Limits {
	l := &store.Limits{Classes: map[string]store.ClassLimits{}, Clusters: map[string]int{}, MaxQueued: maxQueued}
	if cfg == nil {
		return l
	}
	for name, c := range cfg.Classes {
		l.Classes[name] = store.ClassLimits{
			Priority: c.Priority, MaxRunning: c.MaxRunning, MaxQueued: c.MaxQueued, PerMinute: c.QueriesPerMinute,
			CPUPerHour: c.CPUSecondsPerHour, BytesPerHour: float64(c.ScannedBytesPerHour),
			UserRunning: c.PerUser.MaxRunning, UserQueued: c.PerUser.MaxQueued, UserPerMinute: c.PerUser.QueriesPerMinute,
			UserCPU: c.PerUser.CPUSecondsPerHour, UserBytes: float64(c.PerUser.ScannedBytesPerHour),
		}
	}
	for name, c := range cfg.Clusters {
		if c.MaxRunning > 0 {
			l.Clusters[name] = c.MaxRunning
		}
	}
	return l
}

func (g *Governor) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, g.o.StoreTimeout)
}

func (g *Governor) dispatch() store.DispatchOptions {
	return store.DispatchOptions{Owner: g.o.Owner, SlotTTL: g.o.SlotTTL, Scan: g.o.Scan, ClientTimeout: g.o.ClientTimeout, Keep: g.o.Keep}
}

func (g *Governor) own(slot string) {
	g.mu.Lock()
	g.owned[slot] = struct{}{}
	g.mu.Unlock()
}

func (g *Governor) disown(slots ...string) {
	g.mu.Lock()
	for _, s := range slots {
		delete(g.owned, s)
	}
	g.mu.Unlock()
}

// Owned lists the slots this replica holds.
func (g *Governor) Owned() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]string, 0, len(g.owned))
	for s := range g.owned {
		out = append(out, s)
	}
	return out
}

// Admit asks for a slot for a new submission (r.Owner, SlotTTL and
// Limits are filled in).
func (g *Governor) Admit(ctx context.Context, r store.AdmitRequest) (store.Admission, error) {
	_, l := g.Config()
	r.Owner, r.SlotTTL, r.Limits = g.o.Owner, g.o.SlotTTL, l
	ctx, cancel := g.ctx(ctx)
	defer cancel()
	start := time.Now()
	a, err := g.o.Store.Admit(ctx, r)
	g.o.Metrics.observeStore("admit", start, err)
	if err == nil && a.Outcome == store.Admitted {
		g.own(r.ID)
	}
	return a, err
}

// Enqueue queues a submission that must wait (it may be admitted at once).
func (g *Governor) Enqueue(ctx context.Context, r store.EnqueueRequest) (store.Admission, error) {
	_, l := g.Config()
	r.Owner, r.SlotTTL, r.Limits, r.Dispatch = g.o.Owner, g.o.SlotTTL, l, g.dispatch()
	ctx, cancel := g.ctx(ctx)
	defer cancel()
	start := time.Now()
	a, err := g.o.Store.Enqueue(ctx, r)
	g.o.Metrics.observeStore("enqueue", start, err)
	if err == nil && a.Outcome == store.Admitted {
		g.own(r.ID)
	}
	return a, err
}

// Bind ties a slot to the query it admitted.
func (g *Governor) Bind(ctx context.Context, slot string, b store.Binding) error {
	ctx, cancel := g.ctx(ctx)
	defer cancel()
	start := time.Now()
	err := g.o.Store.Bind(ctx, slot, b)
	g.o.Metrics.observeStore("bind", start, err)
	return err
}

// Release frees a slot whose submission ended without a query.
func (g *Governor) Release(ctx context.Context, slot string) error {
	_, l := g.Config()
	ctx, cancel := g.ctx(ctx)
	defer cancel()
	start := time.Now()
	_, err := g.o.Store.Release(ctx, slot, l, g.dispatch())
	g.o.Metrics.observeStore("release", start, err)
	if err == nil {
		g.disown(slot)
	}
	return err
}

// Complete ends a query: its slot is released and its usage charged.
func (g *Governor) Complete(ctx context.Context, c store.Completion) (store.Completed, error) {
	_, l := g.Config()
	ctx, cancel := g.ctx(ctx)
	defer cancel()
	start := time.Now()
	out, err := g.o.Store.Complete(ctx, c, l, g.dispatch())
	g.o.Metrics.observeStore("complete", start, err)
	if err == nil && out.Charged {
		g.o.Metrics.charged(out.Class, c)
	}
	return out, err
}

// Poll reads a queue entry for its client.
func (g *Governor) Poll(ctx context.Context, id, slug string) (store.QueuePoll, error) {
	ctx, cancel := g.ctx(ctx)
	defer cancel()
	return g.o.Store.Poll(ctx, id, slug, nil)
}

// Claim takes an admitted queue entry for submission by this replica.
func (g *Governor) Claim(ctx context.Context, id string) (store.QueueClaim, error) {
	_, l := g.Config()
	ctx, cancel := g.ctx(ctx)
	defer cancel()
	c, err := g.o.Store.Claim(ctx, id, g.o.Owner, g.o.ClaimTimeout, g.o.SlotTTL, l)
	if err == nil && c.Claimed {
		g.own(id)
	}
	return c, err
}

// Submitted records that this replica submitted a claimed entry.
func (g *Governor) Submitted(ctx context.Context, id string, b store.Binding, answer []byte) error {
	ctx, cancel := g.ctx(ctx)
	defer cancel()
	return g.o.Store.Submitted(ctx, id, g.o.Owner, b, answer, g.o.Keep)
}

// Requeue puts a claimed entry back (its submission failed).
func (g *Governor) Requeue(ctx context.Context, id string) error {
	_, l := g.Config()
	ctx, cancel := g.ctx(ctx)
	defer cancel()
	err := g.o.Store.Requeue(ctx, id, g.o.Owner, l, g.dispatch())
	g.disown(id)
	return err
}

// Finish ends a queue entry that will not run, with the error its client
// reads.
func (g *Governor) Finish(ctx context.Context, id string, e store.EntryError) (store.QueueEntry, error) {
	_, l := g.Config()
	ctx, cancel := g.ctx(ctx)
	defer cancel()
	was, err := g.o.Store.Finish(ctx, id, e, l, g.dispatch())
	if err == nil {
		g.disown(id)
		g.o.Metrics.Ended.WithLabelValues(classLabel(was.Class), e.Name).Inc()
	}
	return was, err
}

// Snapshot reads the whole governance state.
func (g *Governor) Snapshot(ctx context.Context) (store.GovernanceSnapshot, error) {
	ctx, cancel := g.ctx(ctx)
	defer cancel()
	return g.o.Store.Snapshot(ctx)
}

// AdjustUsage changes or resets a class's or user's usage.
func (g *Governor) AdjustUsage(ctx context.Context, a store.UsageAdjustment) error {
	ctx, cancel := g.ctx(ctx)
	defer cancel()
	return g.o.Store.AdjustUsage(ctx, a)
}

// Run renews this replica's leases and ticks the queue until ctx ends.
func (g *Governor) Run(ctx context.Context) {
	renew := time.NewTicker(g.o.SlotTTL / 3)
	defer renew.Stop()
	tick := time.NewTicker(g.o.TickInterval)
	defer tick.Stop()
	gauges := time.NewTicker(5 * time.Second)
	defer gauges.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-renew.C:
			g.renew(ctx)
		case <-tick.C:
			g.tick(ctx)
		case <-gauges.C:
			g.gauges(ctx)
		}
	}
}

func (g *Governor) renew(ctx context.Context) {
	slots := g.Owned()
	if len(slots) == 0 {
		return
	}
	sctx, cancel := g.ctx(ctx)
	defer cancel()
	lost, err := g.o.Store.Renew(sctx, g.o.Owner, slots, g.o.SlotTTL)
	if err != nil {
		g.o.Logger.Warn("renewing this replica's running slots failed; they expire unless renewed in time", "slots", len(slots), "error", err)
		return
	}
	g.disown(lost...)
}

func (g *Governor) tick(ctx context.Context) {
	cfg, l := g.Config()
	if cfg == nil {
		return
	}
	sctx, cancel := g.ctx(ctx)
	defer cancel()
	r, err := g.o.Store.Tick(sctx, l, g.dispatch())
	if err != nil {
		g.o.Logger.Warn("the governance tick failed", "error", err)
		return
	}
	if r.Expired > 0 {
		g.o.Logger.Info("running slots expired (their replicas stopped renewing them)", "slots", r.Expired)
		g.o.Metrics.Expired.Add(float64(r.Expired))
	}
	if r.Abandoned > 0 {
		g.o.Logger.Info("queued queries dropped: no client polled them", "entries", r.Abandoned, "timeout", g.o.ClientTimeout.String())
		g.o.Metrics.Ended.WithLabelValues("(any)", "ABANDONED_QUERY").Add(float64(r.Abandoned))
	}
}

// gauges refreshes the running and queued gauges from the store.
func (g *Governor) gauges(ctx context.Context) {
	if cfg, _ := g.Config(); cfg == nil {
		return
	}
	s, err := g.Snapshot(ctx)
	if err != nil {
		return
	}
	g.o.Metrics.setGauges(s)
}

func classLabel(c string) string {
	if c == "" {
		return "(none)"
	}
	return c
}

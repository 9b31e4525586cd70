package health

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/coordinator"
)

// Target is one coordinator to check.
type Target struct {
	Key     string // "cluster/coordinator"
	BaseURL string // scheme://host:port
}

// Load is what a coordinator reports about its work.
type Load struct {
	Known         bool `json:"known"` // false when the coordinator's /metrics could not be read
	Running       int  `json:"running"`
	Queued        int  `json:"queued"`
	Blocked       int  `json:"blocked"`
	ActiveWorkers int  `json:"activeWorkers"`
	// Uptime is how long the coordinator has run (from /v1/status; 0:
	// unknown). A smaller uptime than the last one seen is a restart.
	Uptime time.Duration `json:"uptime,omitempty"`
	// HeapUsed and HeapMax are the coordinator JVM's heap in bytes (from
	// /v1/status; 0: unknown).
	HeapUsed int64 `json:"heapUsed,omitempty"`
	HeapMax  int64 `json:"heapMax,omitempty"`
	// Trino is what the coordinator's /metrics says about its health
	// (for monitoring; the zero value when /metrics was not read).
	Trino coordinator.Signals `json:"-"`
}

// CheckFunc checks one coordinator; a nil error means healthy. The load is
// reported when known, also with an error.
type CheckFunc func(ctx context.Context, baseURL string) (Load, error)

// Options configure a Poller.
type Options struct {
	Interval time.Duration
	Timeout  time.Duration
	Rise     int
	Fall     int
	// Check checks one coordinator (default: CheckCoordinator with Client).
	Check CheckFunc
	// Client talks to the coordinators for the default check (default: a
	// coordinator.Client whose timeout is Timeout). Timeout bounds every
	// check whatever the client's own timeout.
	Client *coordinator.Client
	// OnChange is called (from a poller goroutine) after any state change.
	OnChange func(key string, s State)
	// OnRestart is called (from a poller goroutine) when a coordinator's
	// uptime went back: it restarted since the check before.
	OnRestart func(key string, uptime time.Duration)
	Logger    *slog.Logger
}

// Poller checks every target on its own goroutine and keeps its state.
type Poller struct {
	opts    Options
	mu      sync.RWMutex
	entries map[string]*entry
	wg      sync.WaitGroup
}

type entry struct {
	target   Target
	tracker  Tracker
	lastErr  string
	starting bool
	load     Load
	checked  time.Time
	cancel   context.CancelFunc
	// started is when the coordinator started, by its uptime at a check;
	// restarts count the restarts seen.
	started     time.Time
	restarts    int
	lastRestart time.Time
}

// NewPoller returns a poller with no targets.
func NewPoller(o Options) *Poller {
	if o.Check == nil {
		client := o.Client
		if client == nil {
			client = coordinator.New(coordinator.Options{Timeout: o.Timeout})
		}
		o.Check = func(ctx context.Context, base string) (Load, error) { return CheckCoordinator(ctx, client, base) }
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.OnChange == nil {
		o.OnChange = func(string, State) {}
	}
	if o.OnRestart == nil {
		o.OnRestart = func(string, time.Duration) {}
	}
	return &Poller{opts: o, entries: map[string]*entry{}}
}

// SetTargets starts checking new targets and stops checking removed ones.
// A target whose URL changed starts over from Unknown.
func (p *Poller) SetTargets(ctx context.Context, targets []Target) {
	p.mu.Lock()
	defer p.mu.Unlock()
	want := map[string]Target{}
	for _, t := range targets {
		want[t.Key] = t
	}
	for k, e := range p.entries {
		if t, ok := want[k]; !ok || t != e.target {
			e.cancel()
			delete(p.entries, k)
		}
	}
	for k, t := range want {
		if _, ok := p.entries[k]; ok {
			continue
		}
		cctx, cancel := context.WithCancel(ctx)
		e := &entry{target: t, tracker: Tracker{Rise: p.opts.Rise, Fall: p.opts.Fall}, cancel: cancel}
		p.entries[k] = e
		p.wg.Add(1)
		go p.loop(cctx, e)
	}
}

// State returns the state of the coordinator with the given key.
func (p *Poller) State(key string) State {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if e, ok := p.entries[key]; ok {
		return e.tracker.State()
	}
	return Unknown
}

// Status is a point-in-time view of one target.
type Status struct {
	State     State     `json:"state"`
	Starting  bool      `json:"starting,omitempty"` // the last check found the coordinator starting up
	LastError string    `json:"lastError,omitempty"`
	Load      Load      `json:"load"`
	Checked   time.Time `json:"checked,omitzero"`
	// Restarts counts the coordinator's restarts this replica saw (its
	// uptime went back), LastRestart when it saw the latest.
	Restarts    int       `json:"restarts,omitempty"`
	LastRestart time.Time `json:"lastRestart,omitzero"`
}

// Status returns the status of one target.
func (p *Poller) Status(key string) (Status, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	e, ok := p.entries[key]
	if !ok {
		return Status{}, false
	}
	return e.status(), true
}

func (e *entry) status() Status {
	return Status{State: e.tracker.State(), Starting: e.starting, LastError: e.lastErr, Load: e.load, Checked: e.checked,
		Restarts: e.restarts, LastRestart: e.lastRestart}
}

// Snapshot returns the status of every target.
func (p *Poller) Snapshot() map[string]Status {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make(map[string]Status, len(p.entries))
	for k, e := range p.entries {
		out[k] = e.status()
	}
	return out
}

// AllChecked reports whether every target has had at least one result.
func (p *Poller) AllChecked() bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	for _, e := range p.entries {
		if e.tracker.State() == Unknown {
			return false
		}
	}
	return true
}

// Wait blocks until every poller goroutine has stopped (after the context
// given to SetTargets is cancelled).
func (p *Poller) Wait() { p.wg.Wait() }

func (p *Poller) loop(ctx context.Context, e *entry) {
	defer p.wg.Done()
	t := time.NewTicker(p.opts.Interval)
	defer t.Stop()
	for {
		cctx, cancel := context.WithTimeout(ctx, p.opts.Timeout)
		load, err := p.opts.Check(cctx, e.target.BaseURL)
		cancel()
		if ctx.Err() != nil {
			return
		}
		p.record(e, load, err)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (p *Poller) record(e *entry, load Load, err error) {
	p.mu.Lock()
	e.load, e.checked, e.starting = load, time.Now(), errors.Is(err, ErrStarting)
	if err != nil {
		e.lastErr = err.Error()
	} else {
		e.lastErr = ""
	}
	changed := e.tracker.Observe(err == nil)
	s := e.tracker.State()
	restarted := false
	if load.Uptime > 0 {
		started := e.checked.Add(-load.Uptime)
		restarted = restartedSince(e.started, started, load.Uptime)
		if restarted || e.started.IsZero() {
			e.started = started
		}
	}
	if restarted {
		e.restarts++
		e.lastRestart = e.checked
	}
	p.mu.Unlock()
	if restarted {
		p.opts.Logger.Warn("coordinator restarted", "coordinator", e.target.Key, "uptime", load.Uptime.String())
		p.opts.OnRestart(e.target.Key, load.Uptime)
	}
	if changed {
		p.opts.Logger.Info("coordinator health changed", "coordinator", e.target.Key, "state", s.String(), "error", e.lastErr)
		p.opts.OnChange(e.target.Key, s)
	}
}

// restartedSince reports whether a coordinator that started at before
// (by an earlier check) and now reports an uptime that puts its start at
// started has restarted since: its start moved later by more than Trino's
// rounding of the uptime (three digits: at most 1% of it) plus two
// seconds of noise. A coordinator restarting every few seconds is seen,
// which comparing uptimes would miss.
func restartedSince(before, started time.Time, uptime time.Duration) bool {
	return !before.IsZero() && started.Sub(before) > 2*time.Second+uptime/100
}

package metadata

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Options.
const (
	DefaultTTL          = 10 * time.Minute
	MaxNegativeTTL      = time.Minute // the default NegativeTTL is min(TTL, MaxNegativeTTL)
	DefaultFailureTTL   = 5 * time.Second
	DefaultTimeout      = 300 * time.Millisecond
	DefaultFetchTimeout = 10 * time.Second
	DefaultMaxEntries   = 10000
	DefaultMaxInFlight  = 4
)

// Options configure a Catalog.
type Options struct {
	// Sources are asked in parallel and merged in this order: put
	// PolicyData first, so explicit operator data wins.
	Sources []Source
	// TTL is how long a source's answer for a table is fresh (default
	// 10m). After it the answer is still served while one background
	// call refreshes it.
	TTL time.Duration
	// NegativeTTL is how long "the source does not know the table" is
	// fresh (default min(TTL, 1m)): shorter, so a new table is seen soon.
	NegativeTTL time.Duration
	// FailureTTL is how long the catalog waits before asking a source
	// again about a table it failed on (default 5s). Meanwhile the
	// previous answer, if any, is served.
	FailureTTL time.Duration
	// Timeout bounds how long a lookup waits for the sources (default
	// 300ms): a slow or failing source never holds a lookup longer.
	Timeout time.Duration
	// FetchTimeout bounds each source call (default 10s, at least
	// Timeout). A call that outlives Timeout goes on in the background
	// and its answer is cached for the next lookup.
	FetchTimeout time.Duration
	// MaxEntries bounds the cache of each source (default 10000). Beyond
	// it, expired entries are dropped first, then arbitrary ones.
	MaxEntries int
	// MaxInFlight bounds the concurrent calls to each source (default 4).
	// A lookup that would need another call is answered without that
	// source (counted as Skipped).
	MaxInFlight int
	// Classes derive a size class from rows and bytes.
	Classes SizeClasses
	// Logger receives a warning when a source starts failing and a note
	// when it recovers (default: discard).
	Logger *slog.Logger
	// Now is the clock of the TTLs (default time.Now), for tests. Timeout
	// and FetchTimeout are real time.
	Now func() time.Time
}

// Catalog answers what is known about tables from its sources, caching
// each source's answers. It is safe for concurrent use.
type Catalog struct {
	o       Options
	sources []*source
	ctx     context.Context // ends on Close; bounds background calls
	cancel  context.CancelFunc

	mu     sync.Mutex // guards closed and wg.Add
	closed bool
	wg     sync.WaitGroup
}

// source is a Source with its cache.
type source struct {
	src      Source
	name     string
	uncached bool // in memory: asked on every lookup
	sem      chan struct{}

	mu      sync.Mutex
	entries map[string]entry
	flights map[string]*flight
	failing bool

	hits, stale, misses, joined      atomic.Uint64
	calls, errors, timeouts, skipped atomic.Uint64
}

// entry is a cached answer: the table, or known false for "not known" (or
// "the last call failed").
type entry struct {
	table   Table
	known   bool
	expires time.Time
}

// flight is one call to a source; lookups that need the same tables wait
// on it instead of calling again.
type flight struct {
	tables []string
	done   chan struct{}
	res    map[string]Table // set before done is closed
}

// uncacheable is implemented by sources that are in memory (PolicyData).
type uncacheable interface{ uncached() }

// New returns a catalog over the sources, with the defaults filled in.
func New(o Options) *Catalog {
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.NegativeTTL <= 0 {
		o.NegativeTTL = min(o.TTL, MaxNegativeTTL)
	}
	if o.FailureTTL <= 0 {
		o.FailureTTL = DefaultFailureTTL
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.FetchTimeout <= 0 {
		o.FetchTimeout = DefaultFetchTimeout
	}
	o.FetchTimeout = max(o.FetchTimeout, o.Timeout)
	if o.MaxEntries <= 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = DefaultMaxInFlight
	}
	o.Classes = o.Classes.withDefaults()
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	c := &Catalog{o: o}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	for _, src := range o.Sources {
		if src == nil {
			continue
		}
		_, uncached := src.(uncacheable)
		c.sources = append(c.sources, &source{
			src: src, name: src.Name(), uncached: uncached,
			sem:     make(chan struct{}, o.MaxInFlight),
			entries: map[string]entry{}, flights: map[string]*flight{},
		})
	}
	return c
}

// Close stops background calls (their contexts end) and waits for them
// to return. Lookups after Close answer from the cache and the in-memory
// sources only.
func (c *Catalog) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
}

// wait is what a lookup waits for: tables from one flight of a source.
type wait struct {
	i      int // the source's index
	f      *flight
	tables []string
}

// Lookup returns what is known of the named tables; a table no source
// knows is absent. It never fails and returns within Options.Timeout (or
// when ctx ends): a source that fails, times out or is at MaxInFlight is
// left out of the answer (see Stats).
func (c *Catalog) Lookup(ctx context.Context, tables []string) map[string]Table {
	tables = unique(tables)
	out := map[string]Table{}
	if len(tables) == 0 || len(c.sources) == 0 {
		return out
	}
	now := c.o.Now()
	answers := make([]map[string]Table, len(c.sources))
	var waits []wait
	for i, s := range c.sources {
		if s.uncached {
			answers[i] = c.direct(ctx, s, tables)
			continue
		}
		var ws []wait
		answers[i], ws = c.cached(s, i, tables, now)
		waits = append(waits, ws...)
	}

	if len(waits) > 0 {
		timer := time.NewTimer(c.o.Timeout)
		defer timer.Stop()
		late := false
		for _, w := range waits {
			if !late {
				select {
				case <-w.f.done:
				case <-timer.C:
					late = true
				case <-ctx.Done():
					late = true
				}
			}
			select {
			case <-w.f.done:
				for _, name := range w.tables {
					if t, ok := w.f.res[name]; ok {
						answers[w.i][name] = t
					}
				}
			default:
				c.sources[w.i].timeouts.Add(1)
			}
		}
	}

	for _, name := range tables {
		var as []answer
		for i, s := range c.sources {
			if t, ok := answers[i][name]; ok {
				as = append(as, answer{source: s.name, table: t})
			}
		}
		if len(as) > 0 {
			out[name] = merge(as, c.o.Classes)
		}
	}
	return out
}

// direct asks an in-memory source.
func (c *Catalog) direct(ctx context.Context, s *source, tables []string) map[string]Table {
	s.calls.Add(1)
	res, err := safeLookup(ctx, s.src, tables)
	c.noteResult(s, err)
	if res == nil {
		res = map[string]Table{}
	}
	return res
}

// cached answers from a source's cache. Tables that are missing or
// expired are fetched in one new call (unless a call for them is already
// under way); the lookup waits for the missing ones, never for the expired
// ones, which are answered with their old value.
func (c *Catalog) cached(s *source, i int, tables []string, now time.Time) (map[string]Table, []wait) {
	got := map[string]Table{}
	joins := map[*flight][]string{}
	var fetch, missing []string
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, name := range tables {
		if e, ok := s.entries[name]; ok {
			if e.known {
				got[name] = e.table
			}
			if now.Before(e.expires) {
				s.hits.Add(1)
				continue
			}
			s.stale.Add(1)
			if s.flights[name] == nil {
				fetch = append(fetch, name)
			}
			continue
		}
		if f := s.flights[name]; f != nil {
			s.joined.Add(1)
			joins[f] = append(joins[f], name)
			continue
		}
		s.misses.Add(1)
		fetch = append(fetch, name)
		missing = append(missing, name)
	}
	if len(fetch) > 0 {
		if f := c.start(s, fetch); f != nil {
			if len(missing) > 0 {
				joins[f] = missing
			}
		} else {
			s.skipped.Add(1)
		}
	}
	waits := make([]wait, 0, len(joins))
	for f, names := range joins {
		waits = append(waits, wait{i: i, f: f, tables: names})
	}
	return got, waits
}

// start begins a call for the tables in the background and registers it
// as their flight; nil when the source is at MaxInFlight or the catalog is
// closed. Called with s.mu held.
func (c *Catalog) start(s *source, tables []string) *flight {
	select {
	case s.sem <- struct{}{}:
	default:
		return nil
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		<-s.sem
		return nil
	}
	c.wg.Add(1)
	c.mu.Unlock()
	f := &flight{tables: tables, done: make(chan struct{})}
	for _, name := range tables {
		s.flights[name] = f
	}
	go c.run(s, f)
	return f
}

// run makes a flight's call and caches its answers: a table answered is
// fresh for TTL; a table not answered by a call that succeeded is "not
// known" for NegativeTTL; a table not answered by a call that failed keeps
// its previous answer (or none) and is asked again after FailureTTL.
func (c *Catalog) run(s *source, f *flight) {
	defer c.wg.Done()
	defer func() { <-s.sem }()
	ctx, cancel := context.WithTimeout(c.ctx, c.o.FetchTimeout)
	defer cancel()
	s.calls.Add(1)
	res, err := safeLookup(ctx, s.src, f.tables)
	c.noteResult(s, err)

	now := c.o.Now()
	answered := make(map[string]Table, len(f.tables))
	s.mu.Lock()
	for _, name := range f.tables {
		t, ok := res[name]
		switch {
		case ok:
			answered[name] = t
			s.entries[name] = entry{table: t, known: true, expires: now.Add(c.o.TTL)}
		case err == nil:
			s.entries[name] = entry{expires: now.Add(c.o.NegativeTTL)}
		default:
			e := s.entries[name]
			e.expires = now.Add(c.o.FailureTTL)
			s.entries[name] = e
		}
		if s.flights[name] == f {
			delete(s.flights, name)
		}
	}
	s.evict(now, c.o.MaxEntries)
	s.mu.Unlock()
	f.res = answered
	close(f.done)
}

// evict keeps the cache within limit entries: expired ones go first, then
// arbitrary ones, down to 90% of limit so eviction is not paid on every
// call. Called with s.mu held.
func (s *source) evict(now time.Time, limit int) {
	if len(s.entries) <= limit {
		return
	}
	for name, e := range s.entries {
		if !now.Before(e.expires) {
			delete(s.entries, name)
		}
	}
	target := limit - limit/10
	for name := range s.entries {
		if len(s.entries) <= target {
			break
		}
		delete(s.entries, name)
	}
}

// noteResult counts a call's error and logs when a source starts failing
// and when it recovers.
func (c *Catalog) noteResult(s *source, err error) {
	if err != nil {
		s.errors.Add(1)
	}
	s.mu.Lock()
	was := s.failing
	s.failing = err != nil
	s.mu.Unlock()
	switch {
	case err != nil && !was:
		c.o.Logger.Warn("table metadata source failing; its answers are left out", "source", s.name, "error", err)
	case err != nil:
		c.o.Logger.Debug("table metadata source failed", "source", s.name, "error", err)
	case was:
		c.o.Logger.Info("table metadata source recovered", "source", s.name)
	}
}

// safeLookup calls a source, turning a panic into an error (a source runs
// in the background, where a panic would end the process).
func safeLookup(ctx context.Context, src Source, tables []string) (res map[string]Table, err error) {
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, fmt.Errorf("source %s panicked: %v", src.Name(), r)
		}
	}()
	return src.Lookup(ctx, tables)
}

// unique drops repeated names, keeping the first occurrence's order.
func unique(names []string) []string {
	seen := make(map[string]bool, len(names))
	out := names[:0:0]
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// SourceStats are a source's counters since the catalog was made. Table
// counters count tables per lookup; call counters count calls.
type SourceStats struct {
	Source  string
	Entries int // cached answers
	// Hits were fresh; Stale were served expired (and refreshed); Misses
	// needed a call; Joined waited on a call another lookup had made.
	Hits, Stale, Misses, Joined uint64
	// Calls made to the source; Errors among them (including panics);
	// Timeouts: a lookup stopped waiting for a call (which went on);
	// Skipped: a call was needed but MaxInFlight was reached or the
	// catalog was closed.
	Calls, Errors, Timeouts, Skipped uint64
}

// Stats returns each source's counters, in source order.
func (c *Catalog) Stats() []SourceStats {
	out := make([]SourceStats, len(c.sources))
	for i, s := range c.sources {
		s.mu.Lock()
		n := len(s.entries)
		s.mu.Unlock()
		out[i] = SourceStats{
			Source: s.name, Entries: n,
			Hits: s.hits.Load(), Stale: s.stale.Load(), Misses: s.misses.Load(), Joined: s.joined.Load(),
			Calls: s.calls.Load(), Errors: s.errors.Load(), Timeouts: s.timeouts.Load(), Skipped: s.skipped.Load(),
		}
	}
	return out
}

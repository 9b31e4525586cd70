package metadata

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable clock for the TTLs.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fake is a Source whose answers a test scripts; it records every call.
type fake struct {
	name string
	// answer answers a call (nil: nothing known).
	answer func(ctx context.Context, tables []string) (map[string]Table, error)

	mu    sync.Mutex
	calls [][]string
	ended int // calls that returned
}

func (f *fake) Name() string { return f.name }

func (f *fake) Lookup(ctx context.Context, tables []string) (map[string]Table, error) {
	f.mu.Lock()
	f.calls = append(f.calls, slices.Clone(tables))
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.ended++
		f.mu.Unlock()
	}()
	if f.answer == nil {
		return nil, nil
	}
	return f.answer(ctx, tables)
}

// asked returns the tables of every call so far, sorted within each call.
func (f *fake) asked() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([][]string, len(f.calls))
	for i, c := range f.calls {
		out[i] = slices.Sorted(slices.Values(c))
	}
	return out
}

func (f *fake) numCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// known answers the tables that are in m.
func known(m map[string]Table) func(context.Context, []string) (map[string]Table, error) {
	return func(_ context.Context, tables []string) (map[string]Table, error) {
		out := map[string]Table{}
		for _, t := range tables {
			if v, ok := m[t]; ok {
				out[t] = v
			}
		}
		return out, nil
	}
}

// gate blocks sources until opened; open may be called more than once.
// Tests register it as a cleanup after the catalog's Close, so a test that
// fails early does not leave Close waiting on a blocked source.
func gate() (ch chan struct{}, open func()) {
	ch = make(chan struct{})
	var once sync.Once
	return ch, func() { once.Do(func() { close(ch) }) }
}

// rows is a table with a known row count.
func rows(n float64) Table { return Table{Rows: n, RowsKnown: true} }

// waitIdle waits for the calls under way in the catalog to finish.
func waitIdle(t *testing.T, c *Catalog) {
	t.Helper()
	for _, s := range c.sources {
		s.mu.Lock()
		var fs []*flight
		for _, f := range s.flights {
			fs = append(fs, f)
		}
		s.mu.Unlock()
		for _, f := range fs {
			select {
			case <-f.done:
			case <-time.After(10 * time.Second):
				t.Fatalf("a call to %s did not finish", s.name)
			}
		}
	}
}

// stats returns the counters of the named source.
func stats(t *testing.T, c *Catalog, name string) SourceStats {
	t.Helper()
	for _, s := range c.Stats() {
		if s.Source == name {
			return s
		}
	}
	t.Fatalf("no source %q in %+v", name, c.Stats())
	return SourceStats{}
}

// eventually polls cond until it holds (for states no channel reports,
// e.g. lookups that have joined a call), failing after 10s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// equal fails unless got deep-equals want.
func equal[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %#v\nwant %#v", what, got, want)
	}
}

// wantErr fails unless err contains every part.
func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q\ndoes not contain %q", err, p)
		}
	}
}

package degraded

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// logLines decodes the JSON lines written so far.
func logLines(t *testing.T, b *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if l == "" {
			continue
		}
		m := map[string]any{}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// summary is a log line as "LEVEL msg condition [suppressed=N] [occurrences=N]".
func summary(m map[string]any) string {
	s := fmt.Sprintf("%v %v %v", m["level"], m["msg"], m["condition"])
	if v, ok := m["suppressed"]; ok {
		s += fmt.Sprintf(" suppressed=%v", v)
	}
	if v, ok := m["occurrences"]; ok {
		s += fmt.Sprintf(" occurrences=%v", v)
	}
	return s
}

func TestReporter(t *testing.T) {
	type step struct {
		fail    int           // occurrences of "store" to report
		recover bool          // then recover "store"
		advance time.Duration // then move the clock
	}
	tests := []struct {
		name  string
		steps []step
		want  []string
	}{
		{
			name:  "a burst is one line",
			steps: []step{{fail: 1000}},
			want:  []string{"WARN down store"},
		},
		{
			name:  "a lasting condition: one line per interval with the suppressed count",
			steps: []step{{fail: 10, advance: 10 * time.Second}, {fail: 5, advance: 20 * time.Second}, {fail: 3, recover: true}},
			want:  []string{"WARN down store", "WARN down store suppressed=14", "INFO up store occurrences=18"},
		},
		{
			name:  "recovery is logged once, with every occurrence counted",
			steps: []step{{fail: 7, recover: true}, {recover: true}},
			want:  []string{"WARN down store", "INFO up store occurrences=7"},
		},
		{
			name:  "recovery without a failure logs nothing",
			steps: []step{{recover: true}, {recover: true}},
		},
		{
			name:  "a new failure after recovery is logged at once",
			steps: []step{{fail: 2, recover: true}, {fail: 2}},
			want:  []string{"WARN down store", "INFO up store occurrences=2", "WARN down store"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
			r := New(Options{Logger: slog.New(slog.NewJSONHandler(&buf, nil)), Interval: 30 * time.Second, Now: clock.Now})
			for _, s := range tt.steps {
				for range s.fail {
					r.Fail("store", "down", "error", "connection refused")
				}
				if s.recover {
					r.Recover("store", "up")
				}
				clock.Advance(s.advance)
			}
			var got []string
			for _, m := range logLines(t, &buf) {
				got = append(got, summary(m))
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Fatalf("logged:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestReporterKeepsConditionsApart(t *testing.T) {
	var buf bytes.Buffer
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	r := New(Options{Logger: slog.New(slog.NewJSONHandler(&buf, nil)), Now: clock.Now})
	if !r.Fail("store", "store down") || !r.Fail("writeback", "written back") {
		t.Fatal("the first occurrence of each condition must be logged")
	}
	if r.Fail("store", "store down") {
		t.Fatal("a second occurrence within the interval was logged")
	}
	if !r.Recover("store", "store up") || r.Active("store") || !r.Active("writeback") {
		t.Fatal("recovering one condition must leave the other on")
	}
	lines := logLines(t, &buf)
	if len(lines) != 3 || lines[2]["degradedFor"] == nil || lines[2]["error"] != nil {
		t.Fatalf("lines %v", lines)
	}
}

func TestReporterArgsAndDuration(t *testing.T) {
	var buf bytes.Buffer
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	r := New(Options{Logger: slog.New(slog.NewJSONHandler(&buf, nil)), Interval: time.Second, Now: clock.Now})
	r.Fail("store", "down", "error", "refused")
	clock.Advance(1500 * time.Millisecond)
	r.Fail("store", "down", "error", "refused")
	r.Recover("store", "up", "revision", 7)
	lines := logLines(t, &buf)
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3", len(lines))
	}
	if lines[0]["error"] != "refused" || lines[0]["suppressed"] != nil {
		t.Errorf("first line %v: want the caller's args and no suppressed count", lines[0])
	}
	if lines[1]["degradedFor"] != float64(1500*time.Millisecond) {
		t.Errorf("second line %v: want degradedFor 1.5s", lines[1])
	}
	if lines[2]["revision"] != float64(7) || lines[2]["occurrences"] != float64(2) {
		t.Errorf("recovery line %v: want the caller's args and 2 occurrences", lines[2])
	}
}

func TestReporterConcurrent(t *testing.T) {
	var buf syncBuffer
	r := New(Options{Logger: slog.New(slog.NewJSONHandler(&buf, nil))})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 500 {
				r.Fail("store", "down")
			}
		}()
	}
	wg.Wait()
	r.Recover("store", "up")
	if n := strings.Count(buf.String(), "\n"); n != 2 {
		t.Fatalf("%d lines for 4000 concurrent occurrences and a recovery, want 2:\n%s", n, buf.String())
	}
	if !strings.Contains(buf.String(), `"occurrences":4000`) {
		t.Fatalf("recovery line does not count 4000 occurrences:\n%s", buf.String())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

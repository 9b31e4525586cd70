package doctor

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/switchyard-gw/switchyard/pkg/events"
)

func TestEventLogKeepsTheLastN(t *testing.T) {
	l := NewEventLog(3)
	for i := 1; i <= 5; i++ {
		l.Record("blue", fmt.Sprintf("q%d", i))
	}
	for i := 1; i <= 5; i++ {
		id := fmt.Sprintf("q%d", i)
		if got, want := l.Seen("blue", id), i > 2; got != want {
			t.Errorf("Seen(blue, %s) = %v, want %v (the log keeps the last 3)", id, got, want)
		}
	}
	l.mu.Lock()
	size, order := len(l.seen), len(l.order)
	l.mu.Unlock()
	if size != 3 || order != 3 {
		t.Errorf("the log holds %d IDs (%d in order), want 3", size, order)
	}
}

func TestEventLogRecordingAgainDoesNotGrow(t *testing.T) {
	l := NewEventLog(2)
	l.Record("blue", "q1")
	l.Record("blue", "q1") // a query sends several events (created, completed)
	l.Record("blue", "q2")
	if !l.Seen("blue", "q1") || !l.Seen("blue", "q2") {
		t.Fatalf("a repeated ID evicted another: q1 %v, q2 %v", l.Seen("blue", "q1"), l.Seen("blue", "q2"))
	}
	l.Record("blue", "q3")
	if l.Seen("blue", "q1") || !l.Seen("blue", "q2") || !l.Seen("blue", "q3") {
		t.Errorf("after q3: q1 %v q2 %v q3 %v, want false true true", l.Seen("blue", "q1"), l.Seen("blue", "q2"), l.Seen("blue", "q3"))
	}
}

func TestEventLogDefaultSize(t *testing.T) {
	for _, n := range []int{0, -1} {
		l := NewEventLog(n)
		for i := range 1024 {
			l.Record("blue", fmt.Sprintf("q%d", i))
		}
		if !l.Seen("blue", "q0") {
			t.Errorf("NewEventLog(%d) kept fewer than 1024 IDs", n)
		}
		l.Record("blue", "q1024")
		if l.Seen("blue", "q0") || !l.Seen("blue", "q1024") {
			t.Errorf("NewEventLog(%d) does not keep exactly the last 1024 IDs", n)
		}
	}
}

func TestEventLogSeenIsPerCluster(t *testing.T) {
	l := NewEventLog(8)
	l.Record("blue", "q1")
	if !l.Seen("blue", "q1") {
		t.Error("Seen(blue, q1) = false after Record(blue, q1)")
	}
	if l.Seen("green", "q1") {
		t.Error("Seen(green, q1) = true: an event of blue counts for green")
	}
	if l.Seen("blue", "q2") {
		t.Error("Seen(blue, q2) = true for a query never recorded")
	}
}

func TestEventLogSink(t *testing.T) {
	ctx := context.Background()
	t.Run("passes to next and records when it accepts", func(t *testing.T) {
		l := NewEventLog(8)
		var got []string
		next := events.SinkFunc(func(_ context.Context, cluster string, e *events.Event) error {
			got = append(got, cluster+"/"+e.QueryID)
			return nil
		})
		if err := l.Sink(next).Ingest(ctx, "blue", &events.Event{Kind: events.Completed, QueryID: "q1"}); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0] != "blue/q1" {
			t.Errorf("next received %v, want [blue/q1]", got)
		}
		if !l.Seen("blue", "q1") {
			t.Error("an accepted event was not recorded")
		}
	})
	t.Run("records what next refuses: the event did arrive", func(t *testing.T) {
		l := NewEventLog(8)
		boom := errors.New("store down")
		next := events.SinkFunc(func(context.Context, string, *events.Event) error { return boom })
		err := l.Sink(next).Ingest(ctx, "blue", &events.Event{Kind: events.Completed, QueryID: "q1"})
		if !errors.Is(err, boom) {
			t.Errorf("Ingest returned %v, want next's error", err)
		}
		if !l.Seen("blue", "q1") {
			t.Error("an event that reached the control plane was not recorded because the governor refused it")
		}
	})
	t.Run("nil next records only", func(t *testing.T) {
		l := NewEventLog(8)
		if err := l.Sink(nil).Ingest(ctx, "green", &events.Event{QueryID: "q9"}); err != nil {
			t.Fatal(err)
		}
		if !l.Seen("green", "q9") || l.Seen("blue", "q9") {
			t.Error("Sink(nil) did not record the event for its cluster only")
		}
	})
}

func TestEventLogConcurrent(t *testing.T) {
	l := NewEventLog(64)
	sink := l.Sink(nil)
	var wg sync.WaitGroup
	for g := range 8 {
		cluster := fmt.Sprintf("c%d", g%2)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				id := fmt.Sprintf("g%d_q%d", g, i)
				if i%2 == 0 {
					l.Record(cluster, id)
				} else if err := sink.Ingest(context.Background(), cluster, &events.Event{QueryID: id}); err != nil {
					t.Error(err)
					return
				}
				_ = l.Seen(cluster, id)
				_ = l.Seen(cluster, fmt.Sprintf("g%d_q%d", (g+1)%8, i))
			}
		}()
	}
	wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.seen) != 64 || len(l.order) != 64 {
		t.Errorf("after 4000 distinct IDs the log holds %d (%d in order), want 64", len(l.seen), len(l.order))
	}
	for _, id := range l.order {
		if _, ok := l.seen[id]; !ok {
			t.Errorf("order and map disagree on %s", id)
		}
	}
}

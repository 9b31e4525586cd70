package store

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// govBenchBackends are the Governance implementations the benchmarks
// measure: memory and a standalone redis-server on loopback. Each returns
// a fresh, empty store (Redis: its own key prefix), so that every run of a
// sub-benchmark (-count) starts from the same state.
func govBenchBackends() map[string]func(*testing.B) Governance {
	return map[string]func(*testing.B) Governance{
		"memory": func(*testing.B) Governance { return newMemory(time.Now).Governance },
		"redis": func(b *testing.B) Governance {
			b.Helper()
			rs, err := NewRedis(RedisOptions{Mode: RedisStandalone, Addresses: []string{sharedRedis(b).Addr}, Timeout: time.Second,
				KeyPrefix: fmt.Sprintf("bench:%s:%d:", b.Name(), time.Now().UnixNano())})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = rs.Close() })
			return rs.Governance
		},
	}
}

func benchQueryID(i int) string { return fmt.Sprintf("20261204_100000_%08d_bench", i) }

// BenchmarkGovernanceRunning is what governance adds to a query that runs
// at once: Admit (a running slot), Bind (its query ID, after the
// coordinator's first answer) and Complete (the completion event: the
// slot back, the usage charged). One op is one query.
func BenchmarkGovernanceRunning(b *testing.B) {
	l := &Limits{Classes: map[string]ClassLimits{"analyst": {MaxRunning: 1000, UserRunning: 100, UserCPU: 1e12, UserBytes: 1e15}}}
	for name, open := range govBenchBackends() {
		b.Run(name, func(b *testing.B) {
			g := open(b)
			ctx := context.Background()
			o := DispatchOptions{Owner: owner, SlotTTL: time.Minute, ClientTimeout: time.Minute, Keep: time.Minute}
			i := 0
			for b.Loop() {
				id := fmt.Sprintf("slot-%d", i)
				a, err := g.Admit(ctx, AdmitRequest{ID: id, Class: "analyst", User: "alice", Owner: owner, SlotTTL: time.Minute, Limits: l})
				if err != nil || a.Outcome != Admitted {
					b.Fatalf("admit: %+v %v", a, err)
				}
				if err := g.Bind(ctx, id, Binding{QueryID: benchQueryID(i), Cluster: "a", Coordinator: "0"}); err != nil {
					b.Fatal(err)
				}
				if c, err := g.Complete(ctx, Completion{QueryID: benchQueryID(i), CPUSeconds: 1, Bytes: 1000}, l, o); err != nil || !c.Released {
					b.Fatalf("complete: %+v %v", c, err)
				}
				i++
			}
		})
	}
}

// BenchmarkGovernanceQueueDispatch is the rate at which a full queue
// drains into one running slot: each op completes the running query
// (which admits the queue's head), claims the head, records its
// submission, and enqueues a new query so the queue stays 1,000 deep.
func BenchmarkGovernanceQueueDispatch(b *testing.B) {
	const depth = 1000
	l := &Limits{Classes: map[string]ClassLimits{"q": {MaxRunning: 1, MaxQueued: 10 * depth}}}
	for name, open := range govBenchBackends() {
		b.Run(name, func(b *testing.B) {
			g := open(b)
			ctx := context.Background()
			o := DispatchOptions{Owner: owner, SlotTTL: time.Minute, ClientTimeout: time.Hour, Keep: time.Minute}
			enqueue := func(n int) {
				id := fmt.Sprintf("e%d", n)
				a, err := g.Enqueue(ctx, EnqueueRequest{
					AdmitRequest: AdmitRequest{ID: id, Class: "q", User: "u0", Owner: owner, SlotTTL: time.Minute, Limits: l},
					Slug:         "s", Payload: []byte(`{"sql":"SELECT 1"}`), Dispatch: o})
				if err != nil || a.Outcome != Queued {
					b.Fatalf("enqueue %s: %+v %v", id, a, err)
				}
			}
			if a, err := g.Admit(ctx, AdmitRequest{ID: "e0", Class: "q", User: "u0", Owner: owner, SlotTTL: time.Minute, Limits: l}); err != nil || a.Outcome != Admitted {
				b.Fatalf("admit: %+v %v", a, err)
			}
			if err := g.Bind(ctx, "e0", Binding{QueryID: benchQueryID(0), Cluster: "a", Coordinator: "0"}); err != nil {
				b.Fatal(err)
			}
			for n := 1; n <= depth; n++ {
				enqueue(n)
			}
			// One user: the queue is first in, first out.
			running := 0
			start := time.Now()
			for b.Loop() {
				if c, err := g.Complete(ctx, Completion{QueryID: benchQueryID(running)}, l, o); err != nil || !c.Released {
					b.Fatalf("complete %d: %+v %v", running, c, err)
				}
				next := running + 1
				claimed := fmt.Sprintf("e%d", next)
				if cl, err := g.Claim(ctx, claimed, owner, time.Minute, time.Minute, l); err != nil || !cl.Claimed {
					b.Fatalf("claim %s: %+v %v", claimed, cl.Entry, err)
				}
				running = next
				if err := g.Submitted(ctx, claimed, owner, Binding{QueryID: benchQueryID(running), Cluster: "a", Coordinator: "0"}, []byte(`{}`), time.Minute); err != nil {
					b.Fatal(err)
				}
				enqueue(depth + next)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "admissions/s")
		})
	}
}

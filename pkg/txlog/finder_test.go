package txlog

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/switchyard-gw/switchyard/pkg/coordinator"
	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/store"
)

const txn = "3bf3a19b-eb56-4f0f-adb9-8bf8d2a82451"

// fakeCoordinators answers GET /v1/query and /v1/query/{id} per URL.
type fakeCoordinators struct {
	mu      sync.Mutex
	lists   map[string][]coordinator.QuerySummary
	started map[string]string // query ID -> startedTransactionId
	fail    map[string]error  // URL -> the list fails
	asked   []string
}

func (f *fakeCoordinators) Queries(_ context.Context, base, _ string) ([]coordinator.QuerySummary, error) {
	f.mu.Lock()
	f.asked = append(f.asked, base)
	f.mu.Unlock()
	if err := f.fail[base]; err != nil {
		return nil, err
	}
	return f.lists[base], nil
}

func (f *fakeCoordinators) askedURLs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.asked...)
}

func (f *fakeCoordinators) Query(_ context.Context, _, id string) (*coordinator.QueryDetail, error) {
	started, ok := f.started[id]
	if !ok {
		return nil, coordinator.ErrQueryGone
	}
	return &coordinator.QueryDetail{StartedTransactionID: started}, nil
}

func finderFleet() *fleet.Fleet {
	return &fleet.Fleet{Clusters: []fleet.Cluster{
		{Name: "a", Coordinators: []fleet.Coordinator{{Name: "0", URL: "http://a0", Key: "a/0"}, {Name: "1", URL: "http://a1", Key: "a/1"}}},
		{Name: "b", Coordinators: []fleet.Coordinator{{Name: "0", URL: "http://b0", Key: "b/0"}}},
	}}
}

func q(id, sql, state, txn string) coordinator.QuerySummary {
	s := coordinator.QuerySummary{QueryID: id, Query: sql, State: state}
	s.Session.TransactionID = txn
	return s
}

func TestFinder(t *testing.T) {
	ctx := context.Background()
	other := "00000000-0000-0000-0000-000000000000"
	t.Run("a statement that ran in the transaction names its coordinator", func(t *testing.T) {
		fc := &fakeCoordinators{lists: map[string][]coordinator.QuerySummary{
			"http://a0": {q("q1", "SELECT 1", "FINISHED", other)},
			"http://a1": {q("q2", "SELECT 2", "FINISHED", txn)},
		}}
		r, err := (&Finder{Fleet: finderFleet, Queries: fc}).Find(ctx, txn)
		if err != nil || r != (store.QueryRoute{Cluster: "a", Coordinator: "1"}) {
			t.Fatalf("Find = %+v, %v; want a/1", r, err)
		}
	})
	t.Run("before any statement, the START TRANSACTION that began it does", func(t *testing.T) {
		fc := &fakeCoordinators{
			lists: map[string][]coordinator.QuerySummary{
				"http://a0": {q("s1", "START TRANSACTION ISOLATION LEVEL REPEATABLE READ", "FINISHED", "")},
				"http://b0": {q("s2", "start  transaction", "FINISHED", ""), q("s3", "START TRANSACTION", "FAILED", "")},
			},
			started: map[string]string{"s1": other, "s2": txn, "s3": txn},
		}
		r, err := (&Finder{Fleet: finderFleet, Queries: fc}).Find(ctx, txn)
		if err != nil || r != (store.QueryRoute{Cluster: "b", Coordinator: "0"}) {
			t.Fatalf("Find = %+v, %v; want b/0", r, err)
		}
	})
	t.Run("coordinators known to be down are not asked", func(t *testing.T) {
		fc := &fakeCoordinators{lists: map[string][]coordinator.QuerySummary{"http://b0": {q("q", "SELECT 1", "RUNNING", txn)}}}
		if _, err := (&Finder{Fleet: finderFleet, Queries: fc, Down: func(k string) bool { return k == "a/0" }}).Find(ctx, txn); err != nil {
			t.Fatal(err)
		}
		for _, u := range fc.askedURLs() {
			if u == "http://a0" {
				t.Fatalf("asked %s, which is down", u)
			}
		}
	})
	t.Run("nobody knows it", func(t *testing.T) {
		if _, err := (&Finder{Fleet: finderFleet, Queries: &fakeCoordinators{}}).Find(ctx, txn); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("got %v, want ErrNotFound", err)
		}
	})
	t.Run("failures are reported, not taken for a no", func(t *testing.T) {
		fc := &fakeCoordinators{fail: map[string]error{"http://b0": errors.New("connection refused")}}
		_, err := (&Finder{Fleet: finderFleet, Queries: fc}).Find(ctx, txn)
		if err == nil || errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), "b/0: connection refused") {
			t.Fatalf("got %v; want the failure of b/0", err)
		}
	})
	t.Run("what is not a Trino transaction ID is not looked up", func(t *testing.T) {
		fc := &fakeCoordinators{}
		for _, id := range []string{"x' OR '1'='1", "NONE", strings.ToUpper(txn), txn + " "} {
			if _, err := (&Finder{Fleet: finderFleet, Queries: fc}).Find(ctx, id); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("Find(%q) = %v, want ErrNotFound", id, err)
			}
		}
		if asked := fc.askedURLs(); len(asked) != 0 {
			t.Fatalf("asked %v", asked)
		}
	})
}

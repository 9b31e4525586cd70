package sessions

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/store"
	"github.com/switchyard-gw/switchyard/pkg/trino"
)

func TestIdentify(t *testing.T) {
	a, b := Identify("alice", "nb", ""), Identify("bob", "nb", "")
	if a.Source != FromHeader || a.ID != "nb" || a.key == b.key {
		t.Fatalf("client-named sessions of two users share a record: %+v %+v", a, b)
	}
	if g := Identify("alice", "", "0123456789abcdef0123456789abcdef"); g.Source != FromGateway || g.key != "g0123456789abcdef0123456789abcdef" {
		t.Fatalf("gateway identity %+v", g)
	}
	if h := Identify("alice", "nb", "0123456789abcdef0123456789abcdef"); h.Source != FromHeader {
		t.Fatalf("the client's own name must win: %+v", h)
	}
	n1, n2 := Identify("alice", "", ""), Identify("alice", "", "")
	if n1.Source != New || n1.ID == n2.ID || !trino.ValidSessionID(n1.ID) {
		t.Fatalf("new sessions %+v %+v", n1, n2)
	}
}

type brokenStore struct{}

func (brokenStore) GetSession(context.Context, string, time.Duration) (store.ClientSession, error) {
	return store.ClientSession{}, errors.New("redis: connection refused")
}
func (brokenStore) PutSession(context.Context, string, store.ClientSession, time.Duration) error {
	return errors.New("redis: connection refused")
}

// slowStore times out its first n GetSession calls (as a stalled Redis
// does), then answers from a memory store.
type slowStore struct {
	store.Sessions
	n, calls int
}

func (s *slowStore) GetSession(ctx context.Context, key string, ttl time.Duration) (store.ClientSession, error) {
	s.calls++
	if s.calls <= s.n {
		<-ctx.Done()
		return store.ClientSession{}, ctx.Err()
	}
	return s.Sessions.GetSession(ctx, key, ttl)
}

func TestLookupTriesATimeoutOnceMore(t *testing.T) {
	ctx := context.Background()
	id := Identify("alice", "nb", "")
	for _, tt := range []struct {
		timeouts int
		want     Found
	}{{0, Known}, {1, Known}, {2, Failed}} {
		s := &slowStore{Sessions: store.NewMemory().Sessions, n: tt.timeouts}
		tr := NewTracker(Options{Store: s, Timeout: 20 * time.Millisecond})
		if err := tr.Pin(ctx, id, "alice", nil, "adhoc", "a"); err != nil {
			t.Fatal(err)
		}
		pins, found := tr.Lookup(ctx, id, "alice")
		if found != tt.want || (tt.want == Known && pins["adhoc"] != "a") {
			t.Errorf("%d timeouts: %v %v, want %v", tt.timeouts, pins, found, tt.want)
		}
		if want := min(tt.timeouts+1, 2); s.calls != want {
			t.Errorf("%d timeouts: %d calls, want %d", tt.timeouts, s.calls, want)
		}
	}
	// A caller's own deadline is not retried.
	s := &slowStore{Sessions: store.NewMemory().Sessions, n: 5}
	tr := NewTracker(Options{Store: s, Timeout: time.Second})
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, found := tr.Lookup(cctx, id, "alice"); found != Failed || s.calls != 1 {
		t.Errorf("caller's deadline: %v after %d calls, want Failed after 1", found, s.calls)
	}
}

func TestTracker(t *testing.T) {
	ctx := context.Background()
	tr := NewTracker(Options{Store: store.NewMemory().Sessions})
	id := Identify("alice", "nb", "")
	if pins, found := tr.Lookup(ctx, id, "alice"); pins != nil || found != Lost {
		t.Fatalf("unknown session: %v %v", pins, found)
	}
	if err := tr.Pin(ctx, id, "alice", nil, "adhoc", "a"); err != nil {
		t.Fatal(err)
	}
	if err := tr.Pin(ctx, id, "alice", Pins{"adhoc": "a"}, "etl", "c"); err != nil {
		t.Fatal(err)
	}
	if pins, found := tr.Lookup(ctx, id, "alice"); found != Known || pins["adhoc"] != "a" || pins["etl"] != "c" {
		t.Fatalf("pins %v %v", pins, found)
	}
	if pins, found := tr.Lookup(ctx, Identify("", "", ""), "alice"); pins != nil || found != None {
		t.Fatalf("a new session was looked up: %v %v", pins, found)
	}
	broken := NewTracker(Options{Store: brokenStore{}})
	if pins, found := broken.Lookup(ctx, id, "alice"); pins != nil || found != Failed {
		t.Fatalf("a failing store: %v %v", pins, found)
	}
	if err := broken.Pin(ctx, id, "alice", nil, "adhoc", "a"); err == nil {
		t.Fatal("a failed write reported no error")
	}
}

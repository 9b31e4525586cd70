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

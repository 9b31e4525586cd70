package store

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"
)

// TestSessionsContract runs the same checks against every Sessions
// implementation.
func TestSessionsContract(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) { sessionsContract(t, b) })
	}
}

func sessionsContract(t *testing.T, b backend) {
	ctx := context.Background()
	s := b.s.Sessions
	original := ClientSession{User: "alice", Clusters: map[string]string{"adhoc": "a", "etl": "c"}, Tokens: map[string]string{"a/0": "eyJ.x.y"}}
	t.Run("put and get keep every field", func(t *testing.T) {
		if err := s.PutSession(ctx, "g1", original, time.Hour); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetSession(ctx, "g1", time.Hour)
		if err != nil || !reflect.DeepEqual(got, original) {
			t.Fatalf("got %+v, %v; want %+v", got, err, original)
		}
	})
	t.Run("a later put replaces the record", func(t *testing.T) {
		moved := ClientSession{User: "alice", Clusters: map[string]string{"adhoc": "b"}}
		if err := s.PutSession(ctx, "g1", moved, time.Hour); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetSession(ctx, "g1", time.Hour)
		if err != nil || !reflect.DeepEqual(got, moved) {
			t.Fatalf("got %+v, %v; want %+v", got, err, moved)
		}
	})
	t.Run("the caller's map is not shared with the store", func(t *testing.T) {
		cs := ClientSession{User: "bob", Clusters: map[string]string{"adhoc": "a"}}
		if err := s.PutSession(ctx, "g2", cs, time.Hour); err != nil {
			t.Fatal(err)
		}
		cs.Clusters["adhoc"] = "z"
		got, _ := s.GetSession(ctx, "g2", time.Hour)
		got.Clusters["etl"] = "y"
		again, _ := s.GetSession(ctx, "g2", time.Hour)
		if !reflect.DeepEqual(again.Clusters, map[string]string{"adhoc": "a"}) {
			t.Fatalf("stored record changed with a caller's map: %+v", again.Clusters)
		}
	})
	t.Run("not found", func(t *testing.T) {
		if _, err := s.GetSession(ctx, "nope", time.Hour); !errors.Is(err, ErrNotFound) {
			t.Fatalf("got %v, want ErrNotFound", err)
		}
	})
	t.Run("an idle record expires", func(t *testing.T) {
		if err := s.PutSession(ctx, "idle", original, 50*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		// Every read restarts the TTL, so this cannot poll: let the TTL
		// pass (Redis keeps real time and expires a key read after its
		// TTL at once), then read once.
		b.advance(100 * time.Millisecond)
		if b.name != "memory" {
			time.Sleep(100 * time.Millisecond)
		}
		if _, err := s.GetSession(ctx, "idle", time.Hour); !errors.Is(err, ErrNotFound) {
			t.Fatalf("an idle record outlived its TTL: %v", err)
		}
	})
	t.Run("a read restarts the idle TTL", func(t *testing.T) {
		if err := s.PutSession(ctx, "used", original, 300*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		// Read it with a long TTL: from then on it lives for an hour,
		// well past the 300 ms it was written with.
		if _, err := s.GetSession(ctx, "used", time.Hour); err != nil {
			t.Fatal(err)
		}
		b.advance(400 * time.Millisecond)
		if b.name != "memory" {
			time.Sleep(400 * time.Millisecond) // Redis keeps real time: let the first TTL pass
		}
		if _, err := s.GetSession(ctx, "used", time.Hour); err != nil {
			t.Fatalf("a record read after it was written expired with its first TTL: %v", err)
		}
	})
}

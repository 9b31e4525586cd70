package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
)

// TestReplaysContract runs the same checks against every Replays
// implementation.
func TestReplaysContract(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) { replaysContract(t, b) })
	}
}

func replaysContract(t *testing.T, b backend) {
	ctx := context.Background()
	r := b.s.Replays
	original := Replay{
		SQL:     "SELECT 'é', \"x\"\n FROM t -- tab\there",
		Headers: []Header{{"x-trino-user", "alice"}, {"x-trino-session", "a=1"}, {"x-trino-session", "b=%2C"}},
		Group:   "adhoc",
		User:    "alice",
	}
	t.Run("put and get keep every field and the header order", func(t *testing.T) {
		if err := r.PutReplay(ctx, "q1", original, time.Hour); err != nil {
			t.Fatal(err)
		}
		got, err := r.GetReplay(ctx, "q1")
		if err != nil || !reflect.DeepEqual(got, original) {
			t.Fatalf("got %+v, %v; want %+v", got, err, original)
		}
	})
	t.Run("a later put replaces the record", func(t *testing.T) {
		done := original
		done.Attempt, done.ReplacedBy, done.Answer = 1, "q2", []byte(`{"id":"q2"}`)
		if err := r.PutReplay(ctx, "q1", done, time.Hour); err != nil {
			t.Fatal(err)
		}
		got, err := r.GetReplay(ctx, "q1")
		if err != nil || !reflect.DeepEqual(got, done) {
			t.Fatalf("got %+v, %v; want %+v", got, err, done)
		}
	})
	t.Run("the caller's slices are not shared with the store", func(t *testing.T) {
		rp := original
		rp.Headers = append([]Header(nil), original.Headers...)
		if err := r.PutReplay(ctx, "q3", rp, time.Hour); err != nil {
			t.Fatal(err)
		}
		rp.Headers[0].Value = "mallory"
		got, _ := r.GetReplay(ctx, "q3")
		if got.Headers[0].Value != "alice" {
			t.Fatalf("stored header changed with the caller's slice: %+v", got.Headers)
		}
	})
	t.Run("not found", func(t *testing.T) {
		if _, err := r.GetReplay(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("got %v, want ErrNotFound", err)
		}
	})
	t.Run("records expire", func(t *testing.T) {
		if err := r.PutReplay(ctx, "short", original, 50*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if err := r.PutReplay(ctx, "long", original, time.Hour); err != nil {
			t.Fatal(err)
		}
		b.advance(50 * time.Millisecond)
		eventually(t, "the short record to expire", func() error {
			if _, err := r.GetReplay(ctx, "short"); !errors.Is(err, ErrNotFound) {
				return fmt.Errorf("record still there: %v", err)
			}
			return nil
		})
		if _, err := r.GetReplay(ctx, "long"); err != nil {
			t.Fatalf("a live record expired: %v", err)
		}
	})
}

package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestLeasesContract runs the same checks against every Leases
// implementation.
func TestLeasesContract(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) { leasesContract(t, b) })
	}
}

func leasesContract(t *testing.T, b backend) {
	ctx := context.Background()
	ls := b.s.Leases
	var first Lease
	t.Run("one holder at a time", func(t *testing.T) {
		l, err := ls.Acquire(ctx, "reconcile", "r1", time.Minute, 0)
		if err != nil || l.Token < 1 || l.Holder != "r1" || l.Name != "reconcile" {
			t.Fatalf("acquire: %+v %v", l, err)
		}
		first = l
		if _, err := ls.Acquire(ctx, "reconcile", "r2", time.Minute, 0); !errors.Is(err, ErrHeld) {
			t.Fatalf("a second holder got the lease: %v", err)
		}
		again, err := ls.Acquire(ctx, "reconcile", "r1", time.Minute, 0)
		if err != nil || again.Token != l.Token {
			t.Fatalf("the holder asking again: %+v %v, want token %d", again, err, l.Token)
		}
		if _, err := ls.Acquire(ctx, "other", "r2", time.Minute, 0); err != nil {
			t.Fatalf("leases are not separate: %v", err)
		}
	})
	t.Run("renew", func(t *testing.T) {
		l, err := ls.Renew(ctx, first, time.Minute)
		if err != nil || l.Token != first.Token {
			t.Fatalf("renew: %+v %v", l, err)
		}
		for _, bad := range []Lease{
			{Name: first.Name, Holder: "r2", Token: first.Token},
			{Name: first.Name, Holder: first.Holder, Token: first.Token + 1},
			{Name: "nothing", Holder: first.Holder, Token: first.Token},
		} {
			if _, err := ls.Renew(ctx, bad, time.Minute); !errors.Is(err, ErrLost) {
				t.Errorf("renew of %+v: %v, want ErrLost", bad, err)
			}
		}
	})
	var second Lease
	t.Run("release hands over with a larger token", func(t *testing.T) {
		if err := ls.Release(ctx, first); err != nil {
			t.Fatal(err)
		}
		if err := ls.Release(ctx, first); !errors.Is(err, ErrLost) {
			t.Fatalf("second release: %v, want ErrLost", err)
		}
		if _, err := ls.Renew(ctx, first, time.Minute); !errors.Is(err, ErrLost) {
			t.Fatalf("renew after release: %v, want ErrLost", err)
		}
		l, err := ls.Acquire(ctx, "reconcile", "r2", 50*time.Millisecond, 0)
		if err != nil || l.Token <= first.Token {
			t.Fatalf("acquire after release: %+v %v, want a token above %d", l, err, first.Token)
		}
		second = l
	})
	t.Run("an expired lease is taken over with a larger token", func(t *testing.T) {
		b.advance(50 * time.Millisecond)
		var third Lease
		eventually(t, "the lease to expire", func() error {
			l, err := ls.Acquire(ctx, "reconcile", "r3", time.Minute, 0)
			third = l
			return err
		})
		if third.Token <= second.Token {
			t.Fatalf("token %d after %d", third.Token, second.Token)
		}
		if _, err := ls.Renew(ctx, second, time.Minute); !errors.Is(err, ErrLost) {
			t.Fatalf("the expired holder renewed: %v", err)
		}
		if err := ls.Release(ctx, second); !errors.Is(err, ErrLost) {
			t.Fatalf("the expired holder released the new holder's lease: %v", err)
		}
		if _, err := ls.Renew(ctx, third, time.Minute); err != nil {
			t.Fatalf("the new holder lost its lease: %v", err)
		}
	})
	t.Run("the token is above what the resource has seen", func(t *testing.T) {
		l, err := ls.Acquire(ctx, "floor", "r1", time.Minute, 100)
		if err != nil || l.Token != 101 {
			t.Fatalf("%+v %v, want token 101", l, err)
		}
		_ = ls.Release(ctx, l)
		l, err = ls.Acquire(ctx, "floor", "r1", time.Minute, 5)
		if err != nil || l.Token != 102 {
			t.Fatalf("%+v %v, want token 102 (the counter never goes back)", l, err)
		}
	})
	t.Run("concurrent candidates: exactly one wins", func(t *testing.T) {
		var wins atomic.Int32
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := ls.Acquire(ctx, "race", fmt.Sprintf("r%d", i), time.Minute, 0)
				switch {
				case err == nil:
					wins.Add(1)
				case !errors.Is(err, ErrHeld):
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if n := wins.Load(); n != 1 {
			t.Fatalf("%d candidates hold the lease", n)
		}
	})
}

package protection

import (
	"context"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/store"
)

func TestThrottles(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	th := &Throttles{Store: st.Protection}
	if users, _ := th.Get(); len(users) != 0 {
		t.Fatalf("before any refresh: %v", users)
	}
	if err := st.Protection.SetThrottle(ctx, store.Throttle{User: "mallory", MaxRunning: 1, Reason: "runaway", Until: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := st.Protection.SetThrottle(ctx, store.Throttle{User: "brief", MaxRunning: 0, Reason: "runaway", Until: time.Now().Add(300 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	if err := th.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	users, v1 := th.Get()
	if users["mallory"] != 1 || len(users) != 2 {
		t.Fatalf("throttles: %v", users)
	}
	if err := th.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if _, v := th.Get(); v != v1 {
		t.Fatalf("the version changed without a change: %d → %d", v1, v)
	}
	// A throttle ends at its end, even without a refresh.
	deadline := time.Now().Add(5 * time.Second)
	for {
		users, v := th.Get()
		if _, ok := users["brief"]; !ok {
			if v == v1 || users["mallory"] != 1 {
				t.Fatalf("after the end: %v (version %d, was %d)", users, v, v1)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("an ended throttle stayed in force")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

package policy

import (
	"sync"
	"testing"
	"time"
)

func TestStackPool(t *testing.T) {
	var p stackPool
	t.Run("runs f and returns when it has", func(t *testing.T) {
		ran := false
		p.run(func() { ran = true })
		if !ran {
			t.Fatal("f did not run before run returned")
		}
	})
	t.Run("a panic reaches the caller", func(t *testing.T) {
		defer func() {
			if r := recover(); r != "boom" {
				t.Fatalf("recovered %v, want boom", r)
			}
		}()
		p.run(func() { panic("boom") })
		t.Fatal("run returned after a panic")
	})
	t.Run("with every worker busy f runs on the caller", func(t *testing.T) {
		release := make(chan struct{})
		var busy sync.WaitGroup
		// More blocked runs than the pool has workers: once all of them
		// are running, every worker is busy.
		const blocked = 64
		started := make(chan struct{}, blocked)
		for range blocked {
			busy.Go(func() { p.run(func() { started <- struct{}{}; <-release }) })
		}
		for range blocked {
			select {
			case <-started:
			case <-time.After(10 * time.Second):
				t.Fatal("the workers did not start")
			}
		}
		done := make(chan struct{})
		go func() { p.run(func() {}); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("run waited for a busy worker")
		}
		close(release)
		busy.Wait()
	})
}

package filewatch

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/e2e/harness"
)

func TestPoll(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte("1"), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := Stamp(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	reloads, errs := 0, []error{}
	fail := false
	done := make(chan struct{})
	go func() {
		defer close(done)
		Poll(ctx, 10*time.Millisecond, []string{path}, st, func() error {
			mu.Lock()
			defer mu.Unlock()
			reloads++
			if fail {
				return errors.New("bad file")
			}
			return nil
		}, func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() })
	}()
	defer func() { cancel(); <-done }()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		locked := func() bool { mu.Lock(); defer mu.Unlock(); return cond() }
		if err := harness.Until(what, 5*time.Second, locked); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(path, []byte("22"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor("a reload", func() bool { return reloads == 1 })
	mu.Lock()
	fail = true
	mu.Unlock()
	if err := os.WriteFile(path, []byte("333"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor("the error", func() bool { return len(errs) == 1 && reloads == 2 })
	// The failed files are not tried again while unchanged: by the time a
	// further change is reloaded, there were exactly three reloads (a retry
	// on every check would have made dozens).
	mu.Lock()
	fail = false
	mu.Unlock()
	if err := os.WriteFile(path, []byte("4444"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor("the third reload", func() bool { return reloads >= 3 })
	mu.Lock()
	if reloads != 3 || len(errs) != 1 {
		t.Errorf("unchanged failed files were tried again: %d reloads, %d errors", reloads, len(errs))
	}
	mu.Unlock()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	waitFor("the missing file's error", func() bool { return len(errs) >= 2 && errors.Is(errs[1], os.ErrNotExist) })
}

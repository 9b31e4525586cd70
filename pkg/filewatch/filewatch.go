// Package filewatch notices when files that operators change in place
// (password files, certificates) have changed and settled: a change is
// acted on once the files have stayed the same for one more check, so a
// file caught half-written is not taken.
package filewatch

import (
	"context"
	"fmt"
	"os"
	"time"
)

// DefaultInterval is how often files are checked when no interval is
// given (Trino's file.refresh-period).
const DefaultInterval = 5 * time.Second

// Stamp is the paths' sizes and modification times: two equal stamps
// mean, in practice, unchanged files.
func Stamp(paths ...string) (string, error) {
	s := ""
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return "", err
		}
		s += fmt.Sprintf("%s:%d:%d;", p, st.Size(), st.ModTime().UnixNano())
	}
	return s, nil
}

// Poll checks the paths every interval until ctx ends. loaded is the
// stamp of the files in force. When the stamp has changed and then stayed
// the same for one more check, reload is called; its error (and a failure
// to read the stamp) goes to onError, and the same files are not tried
// again until they change.
func Poll(ctx context.Context, interval time.Duration, paths []string, loaded string, reload func() error, onError func(error)) {
	if interval <= 0 {
		interval = DefaultInterval
	}
	report := func(err error) {
		if onError != nil {
			onError(err)
		}
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	pending := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st, err := Stamp(paths...)
		switch {
		case err != nil:
			report(err)
			continue
		case st == loaded:
			pending = ""
			continue
		case st != pending:
			pending = st
			continue
		}
		pending, loaded = "", st
		if err := reload(); err != nil {
			report(err)
		}
	}
}

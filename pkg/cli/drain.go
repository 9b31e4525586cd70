package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/lifecycle"
)

// ErrDrainTimedOut is returned by --wait when a drain's deadline passed.
var ErrDrainTimedOut = errors.New("drain timed out")

// waitDrained reads every named cluster each poll interval until all are
// drained, printing progress when it changes. A drain that timed out prints
// the queries it still has and returns ErrDrainTimedOut.
func waitDrained(ctx context.Context, c *adminClient, names []string, stdout io.Writer, poll time.Duration) error {
	last := map[string]string{}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		done := 0
		for _, name := range names {
			var v lifecycle.ClusterView
			if err := c.do(ctx, http.MethodGet, clusterPath(name), nil, &v); err != nil {
				return err
			}
			d := v.Drain
			var line string
			switch {
			case v.State == fleet.Drained:
				line = fmt.Sprintf("cluster %s drained", name)
				if d != nil {
					line += fmt.Sprintf(" after %v", d.Finished.Sub(d.Started).Round(time.Second))
				}
				done++
			case v.State != fleet.Draining || d == nil:
				return fmt.Errorf("cluster %s is %s, not draining", name, v.State)
			case d.TimedOut:
				fmt.Fprintf(stdout, "cluster %s: drain timed out at %s with %d running and %d queued:\n  %s\n",
					name, d.Deadline.Format(time.RFC3339), d.Running, d.Queued, strings.Join(d.Remaining, "\n  "))
				return fmt.Errorf("%w: cluster %s still has queries (it stays draining)", ErrDrainTimedOut, name)
			case d.Running < 0:
				line = fmt.Sprintf("cluster %s draining: counting queries", name)
			default:
				line = fmt.Sprintf("cluster %s draining: %d running, %d queued (%v so far)", name, d.Running, d.Queued, time.Since(d.Started).Round(time.Second))
			}
			if line != last[name] {
				fmt.Fprintln(stdout, line)
				last[name] = line
			}
		}
		if done == len(names) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

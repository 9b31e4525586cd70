// Package e2e runs Switchyard end to end with real Envoy, Redis and Trino
// processes on loopback. `make test` installs them first (make setup); a
// missing component fails the tests with the reason, it never skips them.
package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/e2e/harness"
)

// Shared by every test: the environment and two single-node Trino clusters
// (starting Trino takes tens of seconds on two cores).
var (
	env            *harness.Env
	trinoA, trinoB *harness.Trino
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) (code int) {
	dir, err := os.MkdirTemp("", "switchyard-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	env, err = harness.NewEnv(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer func() {
		if code != 0 {
			fmt.Fprint(os.Stderr, harness.Dump([]*harness.Proc{trinoA.Proc, trinoB.Proc}, 60))
		}
		env.StopAll()
		if code == 0 {
			_ = os.RemoveAll(dir)
		} else {
			fmt.Fprintln(os.Stderr, "e2e: logs kept in", dir)
		}
	}()
	ctx := context.Background()
	start := time.Now()
	if trinoA, err = env.StartTrino("trino-a", harness.TrinoOptions{}); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	if trinoB, err = env.StartTrino("trino-b", harness.TrinoOptions{}); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	for _, t := range []*harness.Trino{trinoA, trinoB} {
		if err := t.WaitReady(ctx, 3*time.Minute); err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
	}
	fmt.Fprintf(os.Stderr, "e2e: two Trino clusters ready in %v (logs in %s)\n", time.Since(start).Round(time.Second), filepath.Clean(dir))
	return m.Run()
}

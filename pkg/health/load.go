package health

import (
	"context"
	"errors"

	"github.com/switchyard-gw/switchyard/pkg/coordinator"
)

// ErrStarting is the check error of a coordinator that is starting up.
var ErrStarting = errors.New("coordinator is starting")

// CheckCoordinator is the default check: /v1/info must answer with
// "starting": false, and when /metrics tells the load, the coordinator
// must see at least one active worker (a coordinator without workers
// fails every query with "No nodes available").
//
// It also reads /v1/status (uptime and heap, also while starting: a
// restart shows there first) and the coordinator's own health signals in
// /metrics, for monitoring; neither decides health.
func CheckCoordinator(ctx context.Context, c *coordinator.Client, baseURL string) (Load, error) {
	info, err := c.Info(ctx, baseURL)
	if err != nil {
		return Load{}, err
	}
	var load Load
	if st, err := c.Status(ctx, baseURL); err == nil {
		load.Uptime, load.HeapUsed, load.HeapMax = st.Uptime.Std(), st.HeapUsed, st.HeapAvailable
	}
	if info.Starting {
		return load, ErrStarting
	}
	l, err := c.Load(ctx, baseURL)
	if err != nil {
		return load, nil // load unknown: /v1/info decides alone
	}
	load.Known, load.Running, load.Queued, load.Blocked, load.ActiveWorkers = true, l.Running, l.Queued, l.Blocked, l.ActiveWorkers
	load.Trino = l.Signals
	if load.ActiveWorkers == 0 {
		return load, errors.New("no active workers")
	}
	return load, nil
}

// CheckInfo checks that GET /v1/info answers 200 with "starting": false.
func CheckInfo(ctx context.Context, c *coordinator.Client, baseURL string) error {
	info, err := c.Info(ctx, baseURL)
	if err != nil {
		return err
	}
	if info.Starting {
		return ErrStarting
	}
	return nil
}

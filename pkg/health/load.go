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
func CheckCoordinator(ctx context.Context, c *coordinator.Client, baseURL string) (Load, error) {
	if err := CheckInfo(ctx, c, baseURL); err != nil {
		return Load{}, err
	}
	l, err := c.Load(ctx, baseURL)
	if err != nil {
		return Load{}, nil // load unknown: /v1/info decides alone
	}
	load := Load{Known: true, Running: l.Running, Queued: l.Queued, Blocked: l.Blocked, ActiveWorkers: l.ActiveWorkers}
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

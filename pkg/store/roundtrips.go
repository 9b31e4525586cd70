package store

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// roundTrips counts the requests a Redis client sends and waits for: one
// per command, one per pipeline (or transaction). Commands inside a Lua
// script are not round trips; a script is one.
//
// With observe set, each round trip is also reported: its command's name
// in lower case ("pipeline" for a pipeline), its time and its error. A
// missing key (redis.Nil), a script the server must load first
// (NOSCRIPT, which the client answers by sending it) and a refused CLIENT
// subcommand of go-redis's connection handshake (which it ignores: the
// store itself sends no CLIENT command) are answers, not errors.
type roundTrips struct {
	n       atomic.Int64
	observe func(command string, took time.Duration, err error)
}

func (r *roundTrips) report(name string, start time.Time, err error) {
	if r.observe == nil {
		return
	}
	if errors.Is(err, redis.Nil) || name == "client" || (err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT")) {
		err = nil
	}
	r.observe(name, time.Since(start), err)
}

func (r *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		r.n.Add(1)
		start := time.Now()
		err := next(ctx, cmd)
		r.report(strings.ToLower(cmd.Name()), start, err)
		return err
	}
}

func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		r.n.Add(1)
		start := time.Now()
		err := next(ctx, cmds)
		r.report("pipeline", start, err)
		return err
	}
}

var _ redis.Hook = (*roundTrips)(nil)

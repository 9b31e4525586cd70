package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisNode starts one empty redis-server on loopback with the given
// extra arguments and waits until it answers PING. Its RDB file is its
// own (a replica writes the one it syncs; no other server of the Env may
// load it) and is removed first, so the node starts empty.
func (e *Env) redisNode(ctx context.Context, name string, port int, args ...string) (*Proc, error) {
	rdb := name + ".rdb"
	if err := os.Remove(filepath.Join(e.Dir, rdb)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	full := append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", e.Dir, "--dbfilename", rdb}, args...)
	p, err := e.Start(name, exec.Command("redis-server", full...))
	if err != nil {
		return nil, err
	}
	if err := waitPing(ctx, p, addrOf(port)); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

// waitPing polls addr with PING until it answers, p exits or 10 s pass.
func waitPing(ctx context.Context, p *Proc, addr string) error {
	c := redisClient(addr)
	defer c.Close()
	return Poll(ctx, p.Name+" to answer PING", 10*time.Second, 50*time.Millisecond, func() error {
		if p.Exited() {
			return fmt.Errorf("%s exited:\n%s", p.Name, p.Tail(20))
		}
		return c.Ping(ctx).Err()
	})
}

// redisClient is a plain client for one node, with short timeouts and no
// retries (the harness polls).
func redisClient(addr string) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second, ReadTimeout: time.Second,
		WriteTimeout: time.Second, MaxRetries: -1, PoolSize: 2})
}

func addrOf(port int) string { return fmt.Sprintf("127.0.0.1:%d", port) }

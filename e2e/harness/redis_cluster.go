package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// RedisCluster is a Redis Cluster of primaries only on loopback (no
// replicas: the tests need the cluster protocol, not its failover).
type RedisCluster struct {
	// Addrs are the nodes' addresses (any of them seeds a client).
	Addrs []string
	Procs []*Proc
}

// StartRedisCluster starts masters cluster-enabled nodes (at least 3, what
// redis-cli --cluster create needs), joins them with the slots spread
// evenly and waits until every node reports cluster_state:ok.
// Env.StopAll stops them.
func (e *Env) StartRedisCluster(ctx context.Context, name string, masters int) (*RedisCluster, error) {
	if masters < 3 {
		return nil, fmt.Errorf("a Redis Cluster needs at least 3 primaries, got %d", masters)
	}
	rc := &RedisCluster{}
	fail := func(err error) (*RedisCluster, error) {
		err = fmt.Errorf("redis cluster %s: %w\n%s", name, err, Dump(rc.Procs, 20))
		rc.Stop()
		return nil, err
	}
	for i := range masters {
		port, err := FreePort()
		if err != nil {
			return fail(err)
		}
		bus, err := FreePort() // explicit: port+10000 may be taken or ephemeral
		if err != nil {
			return fail(err)
		}
		node := fmt.Sprintf("%s-node%d", name, i+1)
		// A node that finds its cluster file joins its old cluster.
		if err := os.Remove(filepath.Join(e.Dir, node+"-nodes.conf")); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fail(err)
		}
		p, err := e.redisNode(ctx, node, port, "--cluster-enabled", "yes",
			"--cluster-config-file", node+"-nodes.conf", "--cluster-port", strconv.Itoa(bus),
			"--cluster-node-timeout", "2000")
		if err != nil {
			return fail(err)
		}
		rc.Procs = append(rc.Procs, p)
		rc.Addrs = append(rc.Addrs, addrOf(port))
	}
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	args := append([]string{"--cluster", "create"}, rc.Addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.CommandContext(cctx, "redis-cli", args...).CombinedOutput(); err != nil {
		return fail(fmt.Errorf("redis-cli --cluster create: %v\n%s", err, out))
	}
	err := Poll(ctx, "every node to report cluster_state:ok", 30*time.Second, 100*time.Millisecond, func() error {
		for _, a := range rc.Addrs {
			c := redisClient(a)
			info, err := c.ClusterInfo(ctx).Result()
			c.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", a, err)
			}
			if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(masters)) {
				return fmt.Errorf("%s: not ready:\n%s", a, info)
			}
		}
		return nil
	})
	if err != nil {
		return fail(err)
	}
	return rc, nil
}

// Stop stops every node.
func (rc *RedisCluster) Stop() {
	for i := len(rc.Procs) - 1; i >= 0; i-- {
		rc.Procs[i].Stop()
	}
}

package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Sentinel is a Sentinel-managed Redis on loopback: one primary, one
// replica and three sentinels with quorum 2, tuned so a failover completes
// in a few seconds (a node is down after 1 s without answers).
type Sentinel struct {
	// MasterName is the name the sentinels monitor the primary under.
	MasterName string
	// SentinelAddrs are the sentinels' addresses (what a client is given).
	SentinelAddrs []string
	// Procs are the Redis nodes and the sentinels.
	Procs []*Proc

	env   *Env
	mu    sync.Mutex
	nodes map[string]*Proc // data nodes by address
}

// Sentinel timings: a primary is down after sentinelDownAfter without an
// answer; a failover that does not complete is retried after twice
// sentinelFailoverTimeout.
const (
	sentinelDownAfter       = 1000 * time.Millisecond
	sentinelFailoverTimeout = 3000 * time.Millisecond
	sentinelQuorum          = 2
	sentinelCount           = 3
)

// sentinelCommand returns how to start a sentinel on conf: redis-sentinel
// (Debian's package), else redis-server in sentinel mode.
func sentinelCommand(conf string) (*exec.Cmd, error) {
	if p, err := exec.LookPath("redis-sentinel"); err == nil {
		return exec.Command(p, conf), nil
	}
	if p, err := exec.LookPath("redis-server"); err == nil {
		return exec.Command(p, conf, "--sentinel"), nil
	}
	return nil, errors.New("neither redis-sentinel nor redis-server is installed: run `make setup` (it installs Debian's redis-server and redis-sentinel)")
}

// StartSentinel starts a primary, a replica of it and three sentinels on
// free loopback ports, and waits until the replica is in sync and every
// sentinel knows the replica and the other sentinels (so a failover can
// start at once). Env.StopAll stops them all.
func (e *Env) StartSentinel(ctx context.Context, name string) (*Sentinel, error) {
	s := &Sentinel{MasterName: name + "-primary", env: e, nodes: map[string]*Proc{}}
	s.MasterName = strings.Map(func(r rune) rune {
		if r == ' ' || r == '/' {
			return '_'
		}
		return r
	}, s.MasterName)
	stop := func() {
		for i := len(s.Procs) - 1; i >= 0; i-- {
			s.Procs[i].Stop()
		}
	}
	ports := make([]int, 2+sentinelCount)
	for i := range ports {
		p, err := FreePort()
		if err != nil {
			return nil, err
		}
		ports[i] = p
	}
	primary := addrOf(ports[0])
	for i, port := range ports[:2] {
		var args []string
		if i == 1 {
			args = []string{"--replicaof", "127.0.0.1", strconv.Itoa(ports[0])}
		}
		p, err := e.redisNode(ctx, fmt.Sprintf("%s-redis%d", name, i+1), port, args...)
		if err != nil {
			stop()
			return nil, err
		}
		s.Procs = append(s.Procs, p)
		s.nodes[addrOf(port)] = p
	}
	for i, port := range ports[2:] {
		sname := fmt.Sprintf("%s-sentinel%d", name, i+1)
		conf := filepath.Join(e.Dir, sname+".conf") // sentinels rewrite their file
		text := fmt.Sprintf(`port %d
bind 127.0.0.1
dir %s
sentinel monitor %s 127.0.0.1 %d %d
sentinel down-after-milliseconds %s %d
sentinel failover-timeout %s %d
sentinel parallel-syncs %s 1
`, port, e.Dir, s.MasterName, ports[0], sentinelQuorum,
			s.MasterName, sentinelDownAfter.Milliseconds(), s.MasterName, sentinelFailoverTimeout.Milliseconds(), s.MasterName)
		if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
			stop()
			return nil, err
		}
		cmd, err := sentinelCommand(conf)
		if err != nil {
			stop()
			return nil, err
		}
		p, err := e.Start(sname, cmd)
		if err != nil {
			stop()
			return nil, err
		}
		s.Procs = append(s.Procs, p)
		addr := addrOf(port)
		if err := waitPing(ctx, p, addr); err != nil {
			stop()
			return nil, err
		}
		s.SentinelAddrs = append(s.SentinelAddrs, addr)
	}
	if err := s.waitSettled(ctx, primary, 30*time.Second); err != nil {
		err = fmt.Errorf("sentinel %s: %w\n%s", name, err, Dump(s.Procs, 20))
		stop()
		return nil, err
	}
	return s, nil
}

// waitSettled waits until every sentinel names primary, knows a replica in
// sync and the other sentinels, and primary accepts writes.
func (s *Sentinel) waitSettled(ctx context.Context, primary string, timeout time.Duration) error {
	return Poll(ctx, "the sentinels to agree on "+primary+" with a replica in sync", timeout, 100*time.Millisecond, func() error {
		for _, sa := range s.SentinelAddrs {
			m, err := s.masterInfo(ctx, sa)
			if err != nil {
				return err
			}
			if got := m["ip"] + ":" + m["port"]; got != primary {
				return fmt.Errorf("sentinel %s names %s as the primary", sa, got)
			}
			if f := m["flags"]; f != "master" {
				return fmt.Errorf("sentinel %s: primary flags %q", sa, f)
			}
			if m["num-other-sentinels"] != strconv.Itoa(sentinelCount-1) || m["num-slaves"] == "0" {
				return fmt.Errorf("sentinel %s knows %s other sentinels and %s replicas", sa, m["num-other-sentinels"], m["num-slaves"])
			}
			if err := s.replicaInSync(ctx, sa); err != nil {
				return err
			}
		}
		return writable(ctx, primary)
	})
}

// masterInfo is SENTINEL MASTER as a map.
func (s *Sentinel) masterInfo(ctx context.Context, sentinel string) (map[string]string, error) {
	c := redisClient(sentinel)
	defer c.Close()
	v, err := c.Do(ctx, "SENTINEL", "MASTER", s.MasterName).Result()
	if err != nil {
		return nil, fmt.Errorf("sentinel %s: %w", sentinel, err)
	}
	return pairs(v)
}

// replicaInSync checks that the sentinel sees a replica whose link to the
// primary is up and that is not flagged down.
func (s *Sentinel) replicaInSync(ctx context.Context, sentinel string) error {
	c := redisClient(sentinel)
	defer c.Close()
	v, err := c.Do(ctx, "SENTINEL", "REPLICAS", s.MasterName).Slice()
	if err != nil {
		return fmt.Errorf("sentinel %s: %w", sentinel, err)
	}
	for _, r := range v {
		m, err := pairs(r)
		if err != nil {
			return err
		}
		if m["flags"] == "slave" && m["master-link-status"] == "ok" {
			return nil
		}
	}
	return fmt.Errorf("sentinel %s sees no replica in sync (%d replicas)", sentinel, len(v))
}

// pairs turns a RESP2 flat list or a RESP3 map into a map.
func pairs(v any) (map[string]string, error) {
	out := map[string]string{}
	switch x := v.(type) {
	case []any:
		for i := 0; i+1 < len(x); i += 2 {
			out[fmt.Sprint(x[i])] = fmt.Sprint(x[i+1])
		}
	case map[any]any:
		for k, val := range x {
			out[fmt.Sprint(k)] = fmt.Sprint(val)
		}
	default:
		return nil, fmt.Errorf("unexpected sentinel answer %T", v)
	}
	return out, nil
}

// writable checks that addr is a primary that accepts a write.
func writable(ctx context.Context, addr string) error {
	c := redisClient(addr)
	defer c.Close()
	if err := c.Set(ctx, "harness:{probe}", time.Now().UnixNano(), time.Minute).Err(); err != nil {
		return fmt.Errorf("%s refuses writes: %w", addr, err)
	}
	return nil
}

// Nodes are the data nodes' addresses (primary and replica), sorted.
func (s *Sentinel) Nodes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.nodes))
	for a := range s.nodes {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// Primary returns the primary's address as the first sentinel that
// answers names it.
func (s *Sentinel) Primary(ctx context.Context) (string, error) {
	var errs []error
	for _, sa := range s.SentinelAddrs {
		c := redisClient(sa)
		v, err := c.Do(ctx, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", s.MasterName).StringSlice()
		c.Close()
		if err == nil && len(v) == 2 {
			return v[0] + ":" + v[1], nil
		}
		errs = append(errs, fmt.Errorf("sentinel %s: %v %v", sa, v, err))
	}
	return "", errors.Join(errs...)
}

// Failover asks the sentinels for a planned failover (SENTINEL FAILOVER)
// and waits until every sentinel names a new primary that accepts writes
// and the old primary follows it in sync.
func (s *Sentinel) Failover(ctx context.Context) error {
	old, err := s.Primary(ctx)
	if err != nil {
		return err
	}
	c := redisClient(s.SentinelAddrs[0])
	err = Poll(ctx, "SENTINEL FAILOVER to be accepted", 10*time.Second, 200*time.Millisecond, func() error {
		// Refused (INPROG, NOGOODSLAVE) while the previous failover settles.
		return c.Do(ctx, "SENTINEL", "FAILOVER", s.MasterName).Err()
	})
	c.Close()
	if err != nil {
		return err
	}
	return s.waitNewPrimary(ctx, old, true)
}

// KillPrimary kills the current primary with SIGKILL (an unplanned
// failover follows after the sentinels' down-after time) and returns its
// address. WaitFailover waits for the new primary.
func (s *Sentinel) KillPrimary(ctx context.Context) (string, error) {
	addr, err := s.Primary(ctx)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	p := s.nodes[addr]
	s.mu.Unlock()
	if p == nil {
		return "", fmt.Errorf("the primary %s is not a node of this harness", addr)
	}
	p.Kill()
	return addr, nil
}

// WaitFailover waits until every sentinel names a primary other than old
// and it accepts writes (after KillPrimary).
func (s *Sentinel) WaitFailover(ctx context.Context, old string) error {
	return s.waitNewPrimary(ctx, old, false)
}

func (s *Sentinel) waitNewPrimary(ctx context.Context, old string, oldFollows bool) error {
	return Poll(ctx, "the sentinels to fail over from "+old, 30*time.Second, 100*time.Millisecond, func() error {
		var cur string
		for _, sa := range s.SentinelAddrs {
			m, err := s.masterInfo(ctx, sa)
			if err != nil {
				return err
			}
			addr := m["ip"] + ":" + m["port"]
			if addr == old {
				return fmt.Errorf("sentinel %s still names %s", sa, old)
			}
			if cur != "" && addr != cur {
				return fmt.Errorf("sentinels disagree: %s and %s", cur, addr)
			}
			cur = addr
			if oldFollows {
				if err := s.replicaInSync(ctx, sa); err != nil {
					return err
				}
			}
		}
		return writable(ctx, cur)
	})
}

// RestartKilled starts a killed data node again on its port, empty; the
// sentinels make it a replica of the current primary. It waits until the
// sentinels see it in sync.
func (s *Sentinel) RestartKilled(ctx context.Context, addr string) error {
	s.mu.Lock()
	p := s.nodes[addr]
	s.mu.Unlock()
	if p == nil || !p.Exited() {
		return fmt.Errorf("%s is not a stopped node of this harness", addr)
	}
	_, portStr, _ := strings.Cut(addr, ":")
	port, _ := strconv.Atoi(portStr)
	np, err := s.env.redisNode(ctx, p.Name, port)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.nodes[addr] = np
	s.Procs = append(s.Procs, np)
	s.mu.Unlock()
	primary, err := s.Primary(ctx)
	if err != nil {
		return err
	}
	return s.waitSettled(ctx, primary, 30*time.Second)
}

// Stop stops every process of the Sentinel setup.
func (s *Sentinel) Stop() {
	s.mu.Lock()
	procs := append([]*Proc(nil), s.Procs...)
	s.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].Stop()
	}
}

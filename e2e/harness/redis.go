package harness

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"time"
)

// Redis is a redis-server on loopback with persistence off.
type Redis struct {
	*Proc
	Addr string
}

// StartRedis starts redis-server on a free port and waits until it answers.
func (e *Env) StartRedis(ctx context.Context, name string) (*Redis, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	return e.StartRedisOn(ctx, name, port)
}

// StartRedisOn starts redis-server on the given port (a restart test reuses
// the port of the Redis it replaces).
func (e *Env) StartRedisOn(ctx context.Context, name string, port int) (*Redis, error) {
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", e.Dir)
	p, err := e.Start(name, cmd)
	if err != nil {
		return nil, err
	}
	r := &Redis{Proc: p, Addr: fmt.Sprintf("127.0.0.1:%d", port)}
	err = Poll(ctx, name+" to answer PING", 10*time.Second, 50*time.Millisecond, func() error {
		if p.Exited() {
			return fmt.Errorf("redis-server exited:\n%s", p.Tail(20))
		}
		c, err := net.DialTimeout("tcp", r.Addr, time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(time.Second))
		if _, err := c.Write([]byte("PING\r\n")); err != nil {
			return err
		}
		buf := make([]byte, 7)
		if _, err := c.Read(buf); err != nil {
			return err
		}
		if string(buf) != "+PONG\r\n" {
			return fmt.Errorf("unexpected answer %q", buf)
		}
		return nil
	})
	if err != nil {
		p.Stop()
		return nil, err
	}
	return r, nil
}

package harness

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
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
	return e.startRedis(ctx, name, port, "")
}

// StartRedisWithPassword starts a Redis that requires password (AUTH);
// the password is in a configuration file, not on the command line.
func (e *Env) StartRedisWithPassword(ctx context.Context, name, password string) (*Redis, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	return e.startRedis(ctx, name, port, password)
}

func (e *Env) startRedis(ctx context.Context, name string, port int, password string) (*Redis, error) {
	args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", e.Dir}
	ping, pong := "PING\r\n", "+PONG\r\n"
	if password != "" {
		conf := filepath.Join(e.Dir, name+".conf")
		if err := os.WriteFile(conf, []byte("requirepass "+password+"\n"), 0o600); err != nil {
			return nil, err
		}
		args = append([]string{conf}, args...)
		ping, pong = "AUTH "+password+"\r\nPING\r\n", "+OK\r\n+PONG\r\n"
	}
	cmd := exec.Command("redis-server", args...)
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
		if _, err := c.Write([]byte(ping)); err != nil {
			return err
		}
		buf := make([]byte, len(pong))
		if _, err := io.ReadFull(c, buf); err != nil {
			return err
		}
		if string(buf) != pong {
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

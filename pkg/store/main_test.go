package store

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/e2e/harness"
)

// One redis-server for the package's tests, started on first use.
var (
	redisOnce sync.Once
	redisEnv  *harness.Env
	redisSrv  *harness.Redis
	redisErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if redisEnv != nil {
		redisEnv.StopAll()
		_ = os.RemoveAll(redisEnv.Dir)
	}
	os.Exit(code)
}

// sharedRedis is the package's redis-server; a missing redis-server fails
// the test with the reason (make setup installs it), it never skips.
func sharedRedis(t *testing.T) *harness.Redis {
	t.Helper()
	redisOnce.Do(func() {
		dir, err := os.MkdirTemp("", "switchyard-store-")
		if err != nil {
			redisErr = err
			return
		}
		redisEnv = &harness.Env{Dir: dir}
		redisSrv, redisErr = redisEnv.StartRedis(context.Background(), "redis")
	})
	if redisErr != nil {
		t.Fatalf("redis-server is needed for this test (make setup installs it): %v", redisErr)
	}
	return redisSrv
}

// backend is one implementation under test. advance moves the memory
// store's clock; Redis keeps real time, so checks after it poll.
type backend struct {
	name    string
	s       *Store
	advance func(time.Duration)
}

// backends returns a fresh memory store and a Redis store whose keys are
// private to the test.
func backends(t *testing.T) []backend {
	t.Helper()
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	mem := newMemory(clock.Now)
	r := sharedRedis(t)
	rs, err := NewRedis(RedisOptions{Addresses: []string{r.Addr}, Timeout: time.Second, KeyPrefix: fmt.Sprintf("test:%s:%d:", t.Name(), time.Now().UnixNano())})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rs.Close() })
	return []backend{
		{name: "memory", s: mem, advance: clock.Advance},
		{name: "redis", s: rs, advance: func(time.Duration) {}},
	}
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// eventually polls cond for up to 5 s (Redis expiries are real time).
func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	if err := harness.Poll(context.Background(), what, 5*time.Second, 10*time.Millisecond, cond); err != nil {
		t.Fatal(err)
	}
}

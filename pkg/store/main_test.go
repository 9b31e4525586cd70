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

// One redis-server, one Sentinel setup and one Redis Cluster for the
// package's tests, each started on first use.
var (
	redisOnce sync.Once
	redisEnv  *harness.Env
	redisSrv  *harness.Redis
	redisErr  error

	sentinelOnce sync.Once
	sentinelSrv  *harness.Sentinel
	sentinelErr  error

	clusterOnce sync.Once
	clusterSrv  *harness.RedisCluster
	clusterErr  error
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
func sharedRedis(t testing.TB) *harness.Redis {
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

// sharedSentinel is the package's Sentinel setup (a primary, a replica and
// three sentinels), in the environment of sharedRedis.
func sharedSentinel(t *testing.T) *harness.Sentinel {
	t.Helper()
	sharedRedis(t)
	sentinelOnce.Do(func() {
		sentinelSrv, sentinelErr = redisEnv.StartSentinel(context.Background(), "sentinel")
	})
	if sentinelErr != nil {
		t.Fatalf("Redis Sentinel is needed for this test (make setup installs redis-sentinel): %v", sentinelErr)
	}
	return sentinelSrv
}

// sharedCluster is the package's three-node Redis Cluster.
func sharedCluster(t *testing.T) *harness.RedisCluster {
	t.Helper()
	sharedRedis(t)
	clusterOnce.Do(func() {
		clusterSrv, clusterErr = redisEnv.StartRedisCluster(context.Background(), "cluster", 3)
	})
	if clusterErr != nil {
		t.Fatalf("a Redis Cluster is needed for this test (make setup installs redis-server): %v", clusterErr)
	}
	return clusterSrv
}

// backend is one implementation under test. advance moves the memory
// store's clock; Redis keeps real time, so checks after it poll. now is
// the store's clock. lose drops a document as a Redis restarted empty
// would.
type backend struct {
	name    string
	s       *Store
	advance func(time.Duration)
	now     func() time.Time
	lose    func(doc string)
}

// backends returns a fresh memory store and Redis stores (standalone,
// Sentinel, Cluster) whose keys are private to the test.
func backends(t *testing.T) []backend {
	t.Helper()
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	mem := newMemory(clock.Now)
	sen := sharedSentinel(t)
	out := []backend{{name: "memory", s: mem, advance: clock.Advance, now: clock.Now,
		lose: func(string) { mem.Documents.(*memDocuments).lose() }}}
	for _, o := range []RedisOptions{
		{Mode: RedisStandalone, Addresses: []string{sharedRedis(t).Addr}},
		{Mode: RedisSentinel, Addresses: sen.SentinelAddrs, MasterName: sen.MasterName},
		{Mode: RedisCluster, Addresses: sharedCluster(t).Addrs},
	} {
		o.Timeout = time.Second
		o.KeyPrefix = fmt.Sprintf("test:%s:%d:", t.Name(), time.Now().UnixNano())
		rs, err := NewRedis(o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = rs.Close() })
		name := "redis"
		if o.Mode != RedisStandalone {
			name = "redis-" + o.Mode
		}
		rd := rs.Documents.(*redisDocuments)
		out = append(out, backend{name: name, s: rs, advance: func(time.Duration) {}, now: time.Now,
			lose: func(doc string) {
				if err := rd.c.Del(context.Background(), rd.k.document(doc)...).Err(); err != nil {
					t.Fatalf("dropping the %s document: %v", doc, err)
				}
			}})
	}
	return out
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

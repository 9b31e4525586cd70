package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// hashTag is the part of a key Redis Cluster hashes: the first {...} with
// something inside, else the whole key.
func hashTag(key string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return key[i+1 : i+1+j]
		}
	}
	return key
}

// Keys one script touches together must hash to one Redis Cluster slot.
func TestScriptKeysShareAHashSlot(t *testing.T) {
	k := keys{prefix: "sy:"}
	for _, ks := range [][]string{k.document(FleetDoc), k.document(PolicyDoc), k.lease("reconcile")} {
		if hashTag(ks[0]) != hashTag(ks[1]) {
			t.Errorf("%v hash to different slots (%q, %q)", ks, hashTag(ks[0]), hashTag(ks[1]))
		}
	}
	if hashTag(k.document(FleetDoc)[0]) == hashTag(k.document(PolicyDoc)[0]) {
		t.Error("every document hashes to one slot")
	}
}

func TestRedisOptions(t *testing.T) {
	good := []struct {
		name    string
		o       RedisOptions
		cluster bool
		master  string
	}{
		{"standalone by default", RedisOptions{Addresses: []string{"r:6379"}}, false, ""},
		{"sentinel", RedisOptions{Mode: RedisSentinel, Addresses: []string{"s1:26379", "s2:26379"}, MasterName: "m"}, false, "m"},
		{"cluster with one seed", RedisOptions{Mode: RedisCluster, Addresses: []string{"c:6379"}}, true, ""},
	}
	for _, tt := range good {
		t.Run(tt.name, func(t *testing.T) {
			u, err := tt.o.universalOptions()
			if err != nil || u.IsClusterMode != tt.cluster || u.MasterName != tt.master || u.MaxRetries != 1 || !u.ContextTimeoutEnabled {
				t.Fatalf("%+v %v", u, err)
			}
		})
	}
	bad := map[string]RedisOptions{
		"no address":                {},
		"standalone, two addresses": {Addresses: []string{"a:1", "b:1"}},
		"sentinel without master":   {Mode: RedisSentinel, Addresses: []string{"s:26379"}},
		"cluster with a db":         {Mode: RedisCluster, Addresses: []string{"c:1"}, DB: 2},
		"unknown mode":              {Mode: "ring", Addresses: []string{"c:1"}},
		"hash tag in the prefix":    {Addresses: []string{"c:1"}, KeyPrefix: "a{b}:"},
	}
	for name, o := range bad {
		t.Run(name, func(t *testing.T) {
			if _, err := NewRedis(o); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// With Redis gone, every call fails with the store's own error well within
// the caller's deadline (the store's timeout ends it), never a hang and
// never a "not found" that would send a client the wrong way.
func TestRedisDownIsAnError(t *testing.T) {
	sharedRedis(t)                                                    // starts the package's environment
	r, err := redisEnv.StartRedis(context.Background(), "redis-down") // a private server to stop
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewRedis(RedisOptions{Addresses: []string{r.Addr}, Timeout: 200 * time.Millisecond, KeyPrefix: "down:"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.Queries.PutQuery(ctx, "q", QueryRoute{Cluster: "a"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	r.Stop()
	calls := map[string]func(context.Context) error{
		"GetQuery":       func(ctx context.Context) error { _, err := s.Queries.GetQuery(ctx, "q"); return err },
		"GetTransaction": func(ctx context.Context) error { _, err := s.Queries.GetTransaction(ctx, "t"); return err },
		"GetDocument":    func(ctx context.Context) error { _, _, err := s.Documents.GetDocument(ctx, FleetDoc); return err },
		"Acquire":        func(ctx context.Context) error { _, err := s.Leases.Acquire(ctx, "l", "h", time.Second, 0); return err },
		"Ping":           s.Ping,
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := call(ctx)
			if err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, ErrHeld) {
				t.Fatalf("got %v with Redis stopped, want a connection error", err)
			}
			if ctx.Err() != nil {
				t.Fatalf("the caller's deadline ended the call (%v), not the store's timeout", err)
			}
		})
	}
}

// A fleet written by a version before the hash-tagged keys is found and
// moved on the first read, with its revision, so an upgrade keeps the
// fleet's run-time changes and the published policy.
func TestRedisMovesDocumentsFromTheKeysOfEarlierVersions(t *testing.T) {
	r := sharedRedis(t)
	prefix := "legacy:" + strconv.FormatInt(time.Now().UnixNano(), 10) + ":"
	raw := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer raw.Close()
	ctx := context.Background()
	if err := raw.MSet(ctx, prefix+"doc:fleet", `{"v":"old"}`, prefix+"doc:fleet:rev", "57").Err(); err != nil {
		t.Fatal(err)
	}
	s, err := NewRedis(RedisOptions{Addresses: []string{r.Addr}, Timeout: time.Second, KeyPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	doc, rev, err := s.Documents.GetDocument(ctx, FleetDoc)
	if err != nil || string(doc) != `{"v":"old"}` || rev != 57 {
		t.Fatalf("read %s at %d, %v; want the earlier version's document at revision 57", doc, rev, err)
	}
	if n, err := s.Documents.CASDocument(ctx, FleetDoc, []byte(`{"v":"new"}`), 57); err != nil || n != 58 {
		t.Fatalf("write after the move: %d %v", n, err)
	}
	// Moved once: the old keys do not come back over newer writes.
	doc, rev, _ = s.Documents.GetDocument(ctx, FleetDoc)
	if string(doc) != `{"v":"new"}` || rev != 58 {
		t.Fatalf("read %s at %d after the write", doc, rev)
	}
	if _, _, err := s.Documents.GetDocument(ctx, PolicyDoc); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a document no version wrote: %v", err)
	}
}

// A document whose value vanished while its revision counter stayed (a
// partial loss) is restored above the counter: revisions never go back.
func TestRedisRestoreNeverMovesTheRevisionBack(t *testing.T) {
	r := sharedRedis(t)
	prefix := "restore:" + strconv.FormatInt(time.Now().UnixNano(), 10) + ":"
	s, err := NewRedis(RedisOptions{Addresses: []string{r.Addr}, Timeout: time.Second, KeyPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	raw := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer raw.Close()
	ks := keys{prefix: prefix}.document(FleetDoc)
	if err := raw.Set(ctx, ks[1], "12", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Documents.RestoreDocument(ctx, FleetDoc, []byte(`{"v":1}`), 5); err != nil || !ok {
		t.Fatalf("restore: %v %v", ok, err)
	}
	doc, rev, err := s.Documents.GetDocument(ctx, FleetDoc)
	if err != nil || string(doc) != `{"v":1}` || rev != 13 {
		t.Fatalf("read %s at %d (%v), want the restored document at 13, above the counter", doc, rev, err)
	}
}

// A lease whose keys vanished (Redis restarted empty) is lost to its
// holder, and whoever acquires it next gets a token above the one the
// protected resource has seen, although the counter was lost too.
func TestRedisLostLeaseIsReacquiredAboveTheFence(t *testing.T) {
	r := sharedRedis(t)
	prefix := "lostlease:" + strconv.FormatInt(time.Now().UnixNano(), 10) + ":"
	s, err := NewRedis(RedisOptions{Addresses: []string{r.Addr}, Timeout: time.Second, KeyPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	l, err := s.Leases.Acquire(ctx, "reconcile", "r1", time.Minute, 40)
	if err != nil || l.Token != 41 {
		t.Fatalf("acquire: %+v %v, want token 41", l, err)
	}
	raw := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer raw.Close()
	if err := raw.Del(ctx, keys{prefix: prefix}.lease("reconcile")...).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Leases.Renew(ctx, l, time.Minute); !errors.Is(err, ErrLost) {
		t.Fatalf("renew of a vanished lease: %v, want ErrLost", err)
	}
	if err := s.Leases.Release(ctx, l); !errors.Is(err, ErrLost) {
		t.Fatalf("release of a vanished lease: %v, want ErrLost", err)
	}
	l2, err := s.Leases.Acquire(ctx, "reconcile", "r1", time.Minute, l.Token)
	if err != nil || l2.Token <= l.Token {
		t.Fatalf("re-acquire: %+v %v, want a token above %d", l2, err, l.Token)
	}
}

// A caller's deadline shorter than the store's timeout ends a call to a
// Redis that stopped answering (SIGSTOP: connections stay open, nothing is
// read): the store's timeout here is a minute, the caller's 100ms, and the
// call ends with an error long before the 30 s hang detector.
func TestRedisCallerDeadlineEndsAStalledCall(t *testing.T) {
	sharedRedis(t)
	r, err := redisEnv.StartRedis(context.Background(), "redis-stalled")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	s, err := NewRedis(RedisOptions{Addresses: []string{r.Addr}, Timeout: time.Minute, KeyPrefix: "stall:"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Queries.PutQuery(context.Background(), "q", QueryRoute{Cluster: "a"}, time.Hour); err != nil {
		t.Fatal(err) // a pooled connection, open when Redis stops
	}
	if err := syscall.Kill(r.Pid(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = syscall.Kill(r.Pid(), syscall.SIGCONT) }()
	errc := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		errc <- s.Queries.PutQuery(ctx, "q2", QueryRoute{Cluster: "a"}, time.Hour)
	}()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("a write to a stopped Redis succeeded")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the caller's 100ms deadline did not end a call to a stopped Redis (the store's own timeout is a minute)")
	}
}

// Under Sentinel a transaction record is written once a replica has it,
// so a failover cannot drop it: right after PutTransaction every data
// node (the primary and its replica) holds it.
func TestSentinelTransactionRecordsReachAReplica(t *testing.T) {
	sen := sharedSentinel(t)
	prefix := fmt.Sprintf("test:%s:%d:", t.Name(), time.Now().UnixNano())
	s, err := NewRedis(RedisOptions{Mode: RedisSentinel, Addresses: sen.SentinelAddrs, MasterName: sen.MasterName, Timeout: time.Second, KeyPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for i := range 20 {
		id := fmt.Sprintf("txn-%d", i)
		if err := s.Queries.PutTransaction(ctx, id, QueryRoute{Cluster: "a", Coordinator: "0"}, time.Hour); err != nil {
			t.Fatal(err)
		}
		for _, addr := range sen.Nodes() {
			c := redis.NewClient(&redis.Options{Addr: addr})
			n, err := c.Exists(ctx, prefix+"t:"+id).Result()
			_ = c.Close()
			if err != nil || n != 1 {
				t.Fatalf("node %s does not hold transaction %s right after it was recorded (%d, %v)", addr, id, n, err)
			}
		}
	}
}

// TestRoundTrips: a command, a pipeline and a script each count one round
// trip; the memory store counts none.
func TestRoundTrips(t *testing.T) {
	rs, err := NewRedis(RedisOptions{Mode: RedisStandalone, Addresses: []string{sharedRedis(t).Addr}, Timeout: time.Second,
		KeyPrefix: fmt.Sprintf("test:%s:%d:", t.Name(), time.Now().UnixNano())})
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	ctx := context.Background()
	step := func(what string, want int64, f func() error) {
		t.Helper()
		before := rs.RoundTrips()
		if err := f(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got := rs.RoundTrips() - before; got != want {
			t.Fatalf("%s: %d round trips, want %d", what, got, want)
		}
	}
	if err := rs.Ping(ctx); err != nil { // a new connection's handshake (HELLO, CLIENT SETINFO) counts too
		t.Fatal(err)
	}
	step("PING", 1, func() error { return rs.Ping(ctx) })
	step("a pipelined put (owner record and session pin at once)", 1, func() error {
		return rs.Queries.PutQuery(ctx, "20261204_100000_00001_aaaaa", QueryRoute{Cluster: "a", Coordinator: "0"}, time.Minute)
	})
	l := &Limits{Classes: map[string]ClassLimits{"c": {MaxRunning: 5}}}
	admit := func(id string) func() error {
		return func() error {
			_, err := rs.Governance.Admit(ctx, AdmitRequest{ID: id, Class: "c", User: "u", Owner: "r1", SlotTTL: time.Minute, Limits: l})
			return err
		}
	}
	// A script Redis has not seen yet takes EVALSHA, NOSCRIPT and EVAL
	// (it loads); the shared redis-server may have it already.
	if err := admit("s1")(); err != nil {
		t.Fatal(err)
	}
	step("an admission (one script)", 1, admit("s2"))
	if n := NewMemory().RoundTrips(); n != 0 {
		t.Fatalf("the memory store counts %d round trips", n)
	}
}

// TestRoundTripObserver: every round trip is reported with its command's
// name and time; a missing key and a script Redis must load first are
// answers, a refused command is an error.
func TestRoundTripObserver(t *testing.T) {
	type seen struct {
		cmd string
		err bool
	}
	var mu sync.Mutex
	var got []seen
	rs, err := NewRedis(RedisOptions{Mode: RedisStandalone, Addresses: []string{sharedRedis(t).Addr}, Timeout: time.Second,
		KeyPrefix: fmt.Sprintf("test:%s:%d:", t.Name(), time.Now().UnixNano()),
		OnRoundTrip: func(cmd string, took time.Duration, err error) {
			if took <= 0 {
				t.Errorf("%s took %v", cmd, took)
			}
			mu.Lock()
			got = append(got, seen{cmd, err != nil})
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	ctx := context.Background()
	if err := rs.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	got = nil
	mu.Unlock()
	if _, err := rs.Queries.GetQuery(ctx, "20261204_100000_00009_zzzzz"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing query: %v", err)
	}
	if err := rs.Queries.PutQuery(ctx, "20261204_100000_00009_zzzzz", QueryRoute{Cluster: "a", Coordinator: "0"}, time.Minute); err != nil {
		t.Fatal(err)
	}
	// A command Redis refuses (a wrong type) is an error.
	raw := redis.NewClient(&redis.Options{Addr: sharedRedis(t).Addr, DisableIdentity: true})
	defer raw.Close()
	raw.AddHook(&roundTrips{observe: func(cmd string, _ time.Duration, err error) {
		mu.Lock()
		got = append(got, seen{cmd, err != nil})
		mu.Unlock()
	}})
	key := fmt.Sprintf("test:%s:%d:str", t.Name(), time.Now().UnixNano())
	raw.Set(ctx, key, "x", time.Minute)
	_ = raw.HGet(ctx, key, "f").Err()
	mu.Lock()
	defer mu.Unlock()
	// The new connection's handshake (HELLO, and CLIENT subcommands that
	// depend on the Redis version) comes between; it never is an error.
	var calls []seen
	for _, s := range got {
		if (s.cmd == "hello" || s.cmd == "client") && !s.err {
			continue
		}
		calls = append(calls, s)
	}
	want := []seen{{"get", false}, {"set", false}, {"set", false}, {"hget", true}}
	if fmt.Sprint(calls) != fmt.Sprint(want) {
		t.Fatalf("round trips %v (all: %v), want %v", calls, got, want)
	}
}

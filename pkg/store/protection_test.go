package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestProtectionContract runs the same checks against every Protection
// implementation.
func TestProtectionContract(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) { protectionContract(t, b) })
	}
}

// shortTTL is the life of the records the contract waits out (the memory
// store's clock jumps over it; Redis's passes).
const shortTTL = 50 * time.Millisecond

func protectionContract(t *testing.T, b backend) {
	ctx := context.Background()
	p := b.s.Protection
	base := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	failure := func(fp string, i int) Incident {
		return Incident{Fingerprint: fp, QueryID: fmt.Sprintf("20261204_100000_%05d_aaaaa", i), User: "alice", Cluster: "a",
			Kind: IncidentFailure, ErrorName: "EXCEEDED_LOCAL_MEMORY_LIMIT",
			Reason: "EXCEEDED_LOCAL_MEMORY_LIMIT: Query exceeded per-node memory limit of 100MB", Time: base.Add(time.Duration(i) * time.Second)}
	}
	record := func(in Incident, ttl time.Duration, keep int) {
		t.Helper()
		if err := p.RecordIncident(ctx, in, ttl, keep); err != nil {
			t.Fatalf("recording %+v: %v", in, err)
		}
	}
	incidents := func(fp string) []Incident {
		t.Helper()
		ins, err := p.Incidents(ctx, fp)
		if err != nil {
			t.Fatalf("incidents of %s: %v", fp, err)
		}
		return ins
	}

	t.Run("incidents: newest first, the newest keep of them", func(t *testing.T) {
		if ins := incidents("9f86d081884c7d65"); len(ins) != 0 {
			t.Fatalf("an unknown fingerprint: %+v", ins)
		}
		fp := "2c26b46b68ffc68f"
		for i := range 12 {
			record(failure(fp, i), time.Minute, 10)
		}
		ins := incidents(fp)
		if len(ins) != 10 || !ins[0].Time.Equal(base.Add(11*time.Second)) || !ins[9].Time.Equal(base.Add(2*time.Second)) {
			t.Fatalf("got %d incidents (%+v), want the newest 10, newest first", len(ins), ins)
		}
		want := failure(fp, 11)
		if got := ins[0]; got.Fingerprint != fp || got.QueryID != want.QueryID || got.User != "alice" || got.Cluster != "a" ||
			got.Kind != IncidentFailure || got.Reason != want.Reason || got.ErrorName != want.ErrorName || !got.Until.IsZero() {
			t.Fatalf("incident not kept whole: %+v, want %+v", got, want)
		}
		// A record of an earlier time (another replica, late) takes its
		// place by time.
		late := failure(fp, 5)
		late.QueryID, late.Kind = "late", IncidentKilled
		record(late, time.Minute, 10)
		ins = incidents(fp)
		if len(ins) != 10 || ins[0].QueryID != want.QueryID || ins[6].QueryID != "late" || ins[7].QueryID != failure(fp, 5).QueryID ||
			!ins[9].Time.Equal(base.Add(3*time.Second)) {
			t.Fatalf("a late record: %+v, want it among the others by time (before the other of its instant)", ins)
		}
	})

	t.Run("incidents: a zero time is now", func(t *testing.T) {
		in := failure("0000", 0)
		in.Time = time.Time{}
		before := b.now()
		record(in, time.Minute, 10)
		if ins := incidents("0000"); len(ins) != 1 || ins[0].Time.Before(before.Add(-time.Millisecond)) || ins[0].Time.After(b.now().Add(time.Millisecond)) {
			t.Fatalf("%+v, want the time of the record (%v)", ins, before)
		}
	})

	t.Run("incidents: fingerprints are separate whatever they hold", func(t *testing.T) {
		fps := []string{"a", "a:b", "a%3Ab", "{a}", "a}:q", "a}", "{a", "a:", "a%3A", "é"}
		for i, fp := range fps {
			record(failure(fp, i), time.Minute, 10)
		}
		for i, fp := range fps {
			if ins := incidents(fp); len(ins) != 1 || ins[0].QueryID != failure(fp, i).QueryID {
				t.Errorf("fingerprint %q: %+v, want its one incident", fp, ins)
			}
		}
	})

	t.Run("incidents expire; each record restarts the TTL", func(t *testing.T) {
		record(failure("refreshed", 0), shortTTL, 10)
		record(failure("refreshed", 1), time.Minute, 10)
		record(failure("expiring", 0), shortTTL, 10) // recorded after the first: expires after it
		b.advance(shortTTL)
		eventually(t, "the incidents to expire", func() error {
			if ins := incidents("expiring"); len(ins) != 0 {
				return fmt.Errorf("%d incidents left", len(ins))
			}
			return nil
		})
		if ins := incidents("refreshed"); len(ins) != 2 {
			t.Fatalf("the refreshed fingerprint: %+v, want both incidents", ins)
		}
	})

	t.Run("quarantine and release", func(t *testing.T) {
		fp := "b5bb9d8014a0f9b1"
		record(failure(fp, 0), time.Minute, 10)
		q := Incident{Fingerprint: fp, QueryID: "20261204_100000_00001_aaaaa", User: "alice", Kind: IncidentQuarantine,
			Reason: "3 memory failures in 1h", Time: base.Add(time.Minute), Until: b.now().Add(time.Hour)}
		record(q, time.Minute, 1) // keep 1 does not drop the failure: a quarantine is kept apart
		ins := incidents(fp)
		if len(ins) != 2 || ins[0].Kind != IncidentQuarantine || !ins[0].Until.Equal(q.Until) || ins[0].Reason != q.Reason || ins[1].Kind != IncidentFailure {
			t.Fatalf("%+v, want the quarantine then the failure", ins)
		}
		q.Reason = "by an operator"
		record(q, time.Minute, 10)
		if ins := incidents(fp); len(ins) != 2 || ins[0].Reason != "by an operator" {
			t.Fatalf("%+v, want the new quarantine in place of the old one", ins)
		}
		if err := p.ReleaseFingerprint(ctx, fp); err != nil {
			t.Fatal(err)
		}
		if ins := incidents(fp); len(ins) != 0 {
			t.Fatalf("after the release: %+v, want nothing", ins)
		}
		if err := p.ReleaseFingerprint(ctx, fp); !errors.Is(err, ErrNotFound) {
			t.Fatalf("releasing again: %v, want ErrNotFound", err)
		}
		record(failure("only-failures", 0), time.Minute, 10)
		if err := p.ReleaseFingerprint(ctx, "only-failures"); err != nil {
			t.Fatalf("forgetting a fingerprint without quarantine: %v", err)
		}
		if ins := incidents("only-failures"); len(ins) != 0 {
			t.Fatalf("after the release: %+v, want nothing", ins)
		}
	})

	t.Run("a quarantine ends at its Until", func(t *testing.T) {
		fp := "ended"
		record(failure(fp, 0), time.Minute, 10)
		record(Incident{Fingerprint: fp, Kind: IncidentQuarantine, Reason: "r", Until: b.now().Add(shortTTL)}, time.Minute, 10)
		if ins := incidents(fp); len(ins) != 2 {
			t.Fatalf("%+v, want the quarantine and the failure", ins)
		}
		b.advance(shortTTL)
		eventually(t, "the quarantine to end", func() error {
			if ins := incidents(fp); len(ins) != 1 || ins[0].Kind != IncidentFailure {
				return fmt.Errorf("%+v", ins)
			}
			return nil
		})
	})

	t.Run("throttles", func(t *testing.T) {
		if _, err := p.GetThrottle(ctx, "alice"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("no throttle: %v, want ErrNotFound", err)
		}
		if ts, err := p.Throttles(ctx); err != nil || len(ts) != 0 {
			t.Fatalf("no throttles: %+v %v", ts, err)
		}
		alice := Throttle{User: "alice", MaxRunning: 1, Reason: "3 kills in 10m", Until: b.now().Add(time.Hour), Set: base}
		bob := Throttle{User: "bob:{x}", MaxRunning: 0, Reason: "r", Until: b.now().Add(shortTTL)}
		for _, th := range []Throttle{alice, bob} {
			if err := p.SetThrottle(ctx, th); err != nil {
				t.Fatal(err)
			}
		}
		got, err := p.GetThrottle(ctx, "alice")
		if err != nil || got.User != "alice" || got.MaxRunning != 1 || got.Reason != alice.Reason || !got.Until.Equal(alice.Until) || !got.Set.Equal(base) {
			t.Fatalf("%+v %v, want %+v", got, err, alice)
		}
		if got, err := p.GetThrottle(ctx, "bob:{x}"); err != nil || got.Set.IsZero() {
			t.Fatalf("%+v %v, want bob's throttle with the time it was set", got, err)
		}
		alice.MaxRunning = 2
		if err := p.SetThrottle(ctx, alice); err != nil {
			t.Fatal(err)
		}
		ts, err := p.Throttles(ctx)
		if err != nil || len(ts) != 2 || ts[0].User != "alice" || ts[0].MaxRunning != 2 || ts[1].User != "bob:{x}" {
			t.Fatalf("%+v %v, want alice's new throttle and bob's", ts, err)
		}
		b.advance(shortTTL)
		eventually(t, "bob's throttle to end", func() error {
			if _, err := p.GetThrottle(ctx, "bob:{x}"); !errors.Is(err, ErrNotFound) {
				return fmt.Errorf("got %v, want ErrNotFound", err)
			}
			return nil
		})
		if ts, err := p.Throttles(ctx); err != nil || len(ts) != 1 || ts[0].User != "alice" {
			t.Fatalf("%+v %v, want alice's only", ts, err)
		}
		if err := p.RemoveThrottle(ctx, "bob:{x}"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("removing an ended throttle: %v, want ErrNotFound", err)
		}
		if err := p.RemoveThrottle(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		if _, err := p.GetThrottle(ctx, "alice"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a removed throttle: %v, want ErrNotFound", err)
		}
		if err := p.RemoveThrottle(ctx, "alice"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("removing twice: %v, want ErrNotFound", err)
		}
		if ts, err := p.Throttles(ctx); err != nil || len(ts) != 0 {
			t.Fatalf("%+v %v, want none", ts, err)
		}
	})

	t.Run("a claim is won once while it lives", func(t *testing.T) {
		claim := func(key, holder string, ttl time.Duration) bool {
			t.Helper()
			ok, err := p.Claim(ctx, key, holder, ttl)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		if !claim("kill:q1", "r1", time.Minute) {
			t.Fatal("the first claim lost")
		}
		if claim("kill:q1", "r2", time.Minute) || claim("kill:q1", "r1", time.Minute) {
			t.Fatal("a second claim won")
		}
		if !claim("kill:q2", "r2", time.Minute) || !claim("kill:{q1}", "r2", time.Minute) {
			t.Fatal("claims of other keys lost")
		}
		if !claim("short", "r1", shortTTL) {
			t.Fatal("the first claim lost")
		}
		b.advance(shortTTL)
		eventually(t, "the claim to expire", func() error {
			if !claim("short", "r2", time.Minute) {
				return errors.New("still claimed")
			}
			return nil
		})
	})

	t.Run("concurrent claims: exactly one wins", func(t *testing.T) {
		var wins atomic.Int32
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				ok, err := p.Claim(ctx, "throttle:alice:20261204_100000_00001_aaaaa", fmt.Sprintf("r%d", i), time.Minute)
				if err != nil {
					t.Error(err)
				}
				if ok {
					wins.Add(1)
				}
			})
		}
		wg.Wait()
		if n := wins.Load(); n != 1 {
			t.Fatalf("%d claims won", n)
		}
	})

	t.Run("actions: a bounded log and each query's list", func(t *testing.T) {
		if as, err := p.RecentActions(ctx, 10); err != nil || len(as) != 0 {
			t.Fatalf("empty log: %+v %v", as, err)
		}
		queries := []string{"q:1", "q:2", "q:1", "", "q:1"}
		for i, q := range queries {
			a := Action{Time: base.Add(time.Duration(i) * time.Second), QueryID: q, Fingerprint: "2c26b46b68ffc68f", User: "alice",
				Cluster: "a", Action: fmt.Sprintf("act%d", i), Rule: "memory-hog", Reason: "peak memory 80% of the limit",
				ReportOnly: i%2 == 1, Until: base.Add(time.Hour)}
			if err := p.AddAction(ctx, a, 3); err != nil {
				t.Fatal(err)
			}
		}
		as, err := p.RecentActions(ctx, 10)
		if err != nil || len(as) != 3 || as[0].Action != "act4" || as[1].Action != "act3" || as[2].Action != "act2" {
			t.Fatalf("%+v %v, want the newest 3, newest first", as, err)
		}
		if got := as[1]; !got.ReportOnly || got.QueryID != "" || got.Rule != "memory-hog" || got.Reason != "peak memory 80% of the limit" ||
			got.User != "alice" || got.Cluster != "a" || got.Fingerprint != "2c26b46b68ffc68f" || !got.Until.Equal(base.Add(time.Hour)) || !got.Time.Equal(base.Add(3*time.Second)) {
			t.Fatalf("action not kept whole: %+v", got)
		}
		if as, err := p.RecentActions(ctx, 1); err != nil || len(as) != 1 || as[0].Action != "act4" {
			t.Fatalf("recent 1: %+v %v", as, err)
		}
		if as, err := p.RecentActions(ctx, 0); err != nil || len(as) != 0 {
			t.Fatalf("recent 0: %+v %v", as, err)
		}
		as, err = p.QueryActions(ctx, "q:1")
		if err != nil || len(as) != 3 || as[0].Action != "act4" || as[1].Action != "act2" || as[2].Action != "act0" {
			t.Fatalf("%+v %v, want q:1's three actions (one gone from the log), newest first", as, err)
		}
		if as, err := p.QueryActions(ctx, "q:2"); err != nil || len(as) != 1 || as[0].Action != "act1" {
			t.Fatalf("%+v %v, want q:2's action", as, err)
		}
		if as, err := p.QueryActions(ctx, "q:3"); err != nil || len(as) != 0 {
			t.Fatalf("%+v %v, want none", as, err)
		}
	})

	t.Run("bad input is an error naming the field", func(t *testing.T) {
		in := failure("f", 0)
		with := func(f func(*Incident)) Incident { c := in; f(&c); return c }
		th := Throttle{User: "alice", Until: b.now().Add(time.Hour)}
		withT := func(f func(*Throttle)) Throttle { c := th; f(&c); return c }
		for _, tt := range []struct {
			name, field string
			call        func() error
		}{
			{"empty fingerprint", "fingerprint", func() error {
				return p.RecordIncident(ctx, with(func(c *Incident) { c.Fingerprint = "" }), time.Minute, 10)
			}},
			{"long fingerprint", "fingerprint", func() error {
				return p.RecordIncident(ctx, with(func(c *Incident) { c.Fingerprint = strings.Repeat("a", 129) }), time.Minute, 10)
			}},
			{"empty kind", "kind", func() error {
				return p.RecordIncident(ctx, with(func(c *Incident) { c.Kind = "" }), time.Minute, 10)
			}},
			{"zero ttl", "ttl", func() error { return p.RecordIncident(ctx, in, 0, 10) }},
			{"negative ttl", "ttl", func() error { return p.RecordIncident(ctx, in, -time.Second, 10) }},
			{"quarantine without an end", "until", func() error {
				return p.RecordIncident(ctx, with(func(c *Incident) { c.Kind = IncidentQuarantine }), time.Minute, 10)
			}},
			{"quarantine in the past", "until", func() error {
				return p.RecordIncident(ctx, with(func(c *Incident) { c.Kind, c.Until = IncidentQuarantine, b.now().Add(-time.Second) }), time.Minute, 10)
			}},
			{"incidents of nothing", "fingerprint", func() error { _, err := p.Incidents(ctx, ""); return err }},
			{"release of nothing", "fingerprint", func() error { return p.ReleaseFingerprint(ctx, "") }},
			{"throttle of nobody", "user", func() error { return p.SetThrottle(ctx, withT(func(c *Throttle) { c.User = "" })) }},
			{"negative throttle", "maxRunning", func() error { return p.SetThrottle(ctx, withT(func(c *Throttle) { c.MaxRunning = -1 })) }},
			{"throttle without an end", "until", func() error { return p.SetThrottle(ctx, withT(func(c *Throttle) { c.Until = time.Time{} })) }},
			{"throttle in the past", "until", func() error {
				return p.SetThrottle(ctx, withT(func(c *Throttle) { c.Until = b.now().Add(-time.Second) }))
			}},
			{"get of nobody", "user", func() error { _, err := p.GetThrottle(ctx, ""); return err }},
			{"remove of nobody", "user", func() error { return p.RemoveThrottle(ctx, "") }},
			{"claim of nothing", "key", func() error { _, err := p.Claim(ctx, "", "r1", time.Minute); return err }},
			{"claim by nobody", "holder", func() error { _, err := p.Claim(ctx, "k", "", time.Minute); return err }},
			{"claim for no time", "ttl", func() error { _, err := p.Claim(ctx, "k", "r1", 0); return err }},
			{"action without action", "action", func() error { return p.AddAction(ctx, Action{QueryID: "q"}, 10) }},
			{"actions of no query", "query ID", func() error { _, err := p.QueryActions(ctx, ""); return err }},
		} {
			err := tt.call()
			if err == nil || errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), tt.field) {
				t.Errorf("%s: %v, want an error naming %s", tt.name, err, tt.field)
			}
		}
		if ok, _ := p.Claim(ctx, "k", "r1", time.Minute); !ok {
			t.Error("a refused claim took the key")
		}
		if ins := incidents("f"); len(ins) != 0 {
			t.Errorf("refused incidents were recorded: %+v", ins)
		}
	})
}

// The keys of one call share a hash slot; a caller's string cannot move
// it or meet another key.
func TestProtectionKeys(t *testing.T) {
	k := keys{prefix: "sy:"}
	for _, ks := range [][]string{k.incidents("{x}:y}"), k.incidents("a"), k.throttles(), k.actions("q{1}:2")} {
		if hashTag(ks[0]) != hashTag(ks[1]) {
			t.Errorf("%v hash to different slots (%q, %q)", ks, hashTag(ks[0]), hashTag(ks[1]))
		}
	}
	if hashTag(k.incidents("a")[0]) == hashTag(k.incidents("b")[0]) {
		t.Error("every fingerprint hashes to one slot")
	}
	for s, want := range map[string]string{"9f86d0": "9f86d0", "alice@example.com": "alice@example.com", "a:b": "a%3Ab",
		"{x}": "%7Bx%7D", "a%3Ab": "a%253Ab", "é": "%C3%A9", "": ""} {
		if got := keyPart(s); got != want {
			t.Errorf("keyPart(%q) = %q, want %q", s, got, want)
		}
	}
}

// TestProtectionRoundTrips: every call is one round trip to Redis (the
// request path reads a fingerprint's incidents and quarantine at once).
func TestProtectionRoundTrips(t *testing.T) {
	rs, err := NewRedis(RedisOptions{Mode: RedisStandalone, Addresses: []string{sharedRedis(t).Addr}, Timeout: time.Second,
		KeyPrefix: fmt.Sprintf("test:%s:%d:", t.Name(), time.Now().UnixNano())})
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	ctx := context.Background()
	p := rs.Protection
	// A script Redis has not seen yet takes EVALSHA, NOSCRIPT and EVAL; a
	// new connection's handshake (HELLO, CLIENT SETINFO) counts too (the
	// client may dial one for its first transaction).
	if err := p.SetThrottle(ctx, Throttle{User: "warm", Until: time.Now().Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := p.RemoveThrottle(ctx, "warm"); err != nil {
		t.Fatal(err)
	}
	if err := p.AddAction(ctx, Action{Action: "warm"}, 10); err != nil {
		t.Fatal(err)
	}
	in := Incident{Fingerprint: "2c26b46b68ffc68f", Kind: IncidentFailure, Reason: "r"}
	q := Incident{Fingerprint: "2c26b46b68ffc68f", Kind: IncidentQuarantine, Reason: "r", Until: time.Now().Add(time.Minute)}
	for _, s := range []struct {
		what string
		f    func() error
	}{
		{"record an incident", func() error { return p.RecordIncident(ctx, in, time.Minute, 10) }},
		{"quarantine", func() error { return p.RecordIncident(ctx, q, time.Minute, 10) }},
		{"read incidents", func() error {
			ins, err := p.Incidents(ctx, in.Fingerprint)
			if err == nil && len(ins) != 2 {
				err = fmt.Errorf("%d incidents, want 2", len(ins))
			}
			return err
		}},
		{"read no incidents", func() error { _, err := p.Incidents(ctx, "none"); return err }},
		{"release", func() error { return p.ReleaseFingerprint(ctx, in.Fingerprint) }},
		{"set a throttle", func() error {
			return p.SetThrottle(ctx, Throttle{User: "alice", Until: time.Now().Add(time.Minute)})
		}},
		{"get a throttle", func() error { _, err := p.GetThrottle(ctx, "alice"); return err }},
		{"list throttles", func() error { _, err := p.Throttles(ctx); return err }},
		{"remove a throttle", func() error { return p.RemoveThrottle(ctx, "alice") }},
		{"claim", func() error { _, err := p.Claim(ctx, "k", "r1", time.Minute); return err }},
		{"add an action", func() error { return p.AddAction(ctx, Action{QueryID: "q1", Action: "kill"}, 10) }},
		{"recent actions", func() error { _, err := p.RecentActions(ctx, 10); return err }},
		{"a query's actions", func() error { _, err := p.QueryActions(ctx, "q1"); return err }},
	} {
		before := rs.RoundTrips()
		if err := s.f(); err != nil {
			t.Fatalf("%s: %v", s.what, err)
		}
		if n := rs.RoundTrips() - before; n != 1 {
			t.Errorf("%s: %d round trips, want 1", s.what, n)
		}
	}
}

// Ended throttles do not pile up in Redis: setting one drops them.
func TestRedisProtectionDropsEndedThrottles(t *testing.T) {
	rs, err := NewRedis(RedisOptions{Mode: RedisStandalone, Addresses: []string{sharedRedis(t).Addr}, Timeout: time.Second,
		KeyPrefix: fmt.Sprintf("test:%s:%d:", t.Name(), time.Now().UnixNano())})
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	ctx := context.Background()
	p := rs.Protection.(*redisProtection)
	now := time.Now()
	p.now = func() time.Time { return now }
	for _, u := range []string{"a", "b"} {
		if err := p.SetThrottle(ctx, Throttle{User: u, Until: now.Add(time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(time.Second) // a and b end
	if err := p.SetThrottle(ctx, Throttle{User: "c", Until: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	k := p.k.throttles()
	if n, err := p.c.HLen(ctx, k[0]).Result(); err != nil || n != 1 {
		t.Fatalf("%d throttles in the hash (%v), want 1", n, err)
	}
	if n, err := p.c.ZCard(ctx, k[1]).Result(); err != nil || n != 1 {
		t.Fatalf("%d ends in the sorted set (%v), want 1", n, err)
	}
}

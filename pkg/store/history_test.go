package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestHistoryContract runs the same checks against every History
// implementation.
func TestHistoryContract(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			h := b.s.History
			if _, err := h.GetQuery(ctx, "20261204_100000_00000_aaaaa"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("an unknown query: %v", err)
			}
			if rs, err := h.RecentQueries(ctx, 10); err != nil || len(rs) != 0 {
				t.Fatalf("empty history: %v %v", rs, err)
			}
			base := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
			for i := range 5 {
				r := QueryRecord{QueryID: fmt.Sprintf("20261204_100000_0000%d_aaaaa", i), User: "alice", Class: "analyst", Cluster: "a",
					State: "RUNNING", Created: base.Add(time.Duration(i) * time.Second), Groups: []string{"analyst", "alice"}}
				if err := h.PutQuery(ctx, r, 3); err != nil {
					t.Fatal(err)
				}
			}
			rs, err := h.RecentQueries(ctx, 10)
			if err != nil || len(rs) != 3 || rs[0].QueryID != "20261204_100000_00004_aaaaa" || rs[2].QueryID != "20261204_100000_00002_aaaaa" {
				t.Fatalf("recent: %+v %v, want the newest 3, newest first", rs, err)
			}
			if _, err := h.GetQuery(ctx, "20261204_100000_00000_aaaaa"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("a trimmed record: %v", err)
			}
			done := rs[1]
			done.State, done.CPUSeconds, done.Ended = "FINISHED", 1.5, base.Add(time.Minute)
			if err := h.PutQuery(ctx, done, 3); err != nil {
				t.Fatal(err)
			}
			got, err := h.GetQuery(ctx, done.QueryID)
			if err != nil || got.State != "FINISHED" || got.CPUSeconds != 1.5 || !got.Ended.Equal(done.Ended) || len(got.Groups) != 2 {
				t.Fatalf("updated record: %+v %v", got, err)
			}
			if rs, _ := h.RecentQueries(ctx, 2); len(rs) != 2 || rs[1].QueryID != done.QueryID {
				t.Fatalf("an update keeps the record's place: %+v", rs)
			}
		})
	}
}

// TestHistoryMergeContract: Trino's events of one query arrive in either
// order and at any replica, so PutQuery merges in one step: a creation
// after the completion changes nothing, and a record without a class
// keeps the class already recorded (even one that JSON must escape, with
// values that look like the record's own members).
func TestHistoryMergeContract(t *testing.T) {
	base := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			h := b.s.History
			put := func(r QueryRecord) {
				t.Helper()
				if err := h.PutQuery(ctx, r, 100); err != nil {
					t.Fatal(err)
				}
			}
			get := func(id string) QueryRecord {
				t.Helper()
				r, err := h.GetQuery(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				return r
			}
			for _, class := range []string{"analyst", `a"b\c/é,"cluster":"x`} {
				id := "20261204_100000_00001_" + fmt.Sprint(len(class))
				user := `bob","cluster":"not-this","class":"nor-this`
				created := QueryRecord{QueryID: id, User: user, Source: `,"cluster":`, Class: class, Cluster: "a", State: "QUEUED", Created: base}
				put(created)
				done := QueryRecord{QueryID: id, User: user, Source: `,"cluster":`, Cluster: "a", State: "FINISHED", Created: base, Ended: base.Add(time.Second), CPUSeconds: 2.5}
				put(done)
				got := get(id)
				want := done
				want.Class = class
				if got.State != "FINISHED" || got.Class != class || got.User != user || got.Source != `,"cluster":` || got.Cluster != "a" || got.CPUSeconds != 2.5 {
					t.Fatalf("a completion without a class after the creation: got %+v, want %+v", got, want)
				}
				// A late creation (another replica, a retried event)
				// leaves the completion as it was.
				put(created)
				if got := get(id); got.State != "FINISHED" || !got.Ended.Equal(done.Ended) || got.Class != class {
					t.Fatalf("a creation after the completion replaced it: %+v", got)
				}
				// A completion sent again, still without a class, keeps it.
				put(done)
				if got := get(id); got.State != "FINISHED" || got.Class != class {
					t.Fatalf("a repeated completion: %+v", got)
				}
			}
			// A record with its own class replaces the recorded one; a
			// completion first, then nothing older, is kept as sent.
			id := "20261204_100000_00002_aaaaa"
			put(QueryRecord{QueryID: id, User: "carol", Class: "etl", Cluster: "b", State: "RUNNING", Created: base})
			put(QueryRecord{QueryID: id, User: "carol", Class: "adhoc", Cluster: "b", State: "FAILED", Created: base, Ended: base.Add(time.Minute)})
			if got := get(id); got.Class != "adhoc" || got.State != "FAILED" {
				t.Fatalf("a completion with its own class: %+v", got)
			}
			id = "20261204_100000_00003_aaaaa"
			put(QueryRecord{QueryID: id, User: "dave", Cluster: "b", State: "FINISHED", Created: base, Ended: base.Add(time.Second)})
			if got := get(id); got.Class != "" || got.State != "FINISHED" {
				t.Fatalf("a completion alone: %+v", got)
			}
		})
	}
}

// TestHistoryReplacesUnreadableRecord: a history record that is not a
// JSON object (written by something else) does not block its query's
// records: it is replaced.
func TestHistoryReplacesUnreadableRecord(t *testing.T) {
	ctx := context.Background()
	prefix := fmt.Sprintf("unreadable:%d:", time.Now().UnixNano())
	rs, err := NewRedis(RedisOptions{Mode: RedisStandalone, Addresses: []string{sharedRedis(t).Addr}, Timeout: time.Second, KeyPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	c := redis.NewClient(&redis.Options{Addr: sharedRedis(t).Addr})
	defer c.Close()
	id := "20261204_100000_00009_aaaaa"
	for _, junk := range []string{"not json", `"a string"`, `[1,2]`} {
		if err := c.HSet(ctx, prefix+"hist:{h}", id, junk).Err(); err != nil {
			t.Fatal(err)
		}
		r := QueryRecord{QueryID: id, User: "erin", Cluster: "a", State: "QUEUED", Created: time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)}
		if err := rs.History.PutQuery(ctx, r, 10); err != nil {
			t.Fatalf("over %q: %v", junk, err)
		}
		if got, err := rs.History.GetQuery(ctx, id); err != nil || got.State != "QUEUED" || got.User != "erin" {
			t.Fatalf("over %q: %+v %v", junk, got, err)
		}
	}
}

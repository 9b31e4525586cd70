package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
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

package store

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestAuditContract runs the same checks against every Audit
// implementation.
func TestAuditContract(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			a := b.s.Audit
			if es, err := a.Recent(ctx, 10); err != nil || len(es) != 0 {
				t.Fatalf("empty log: %v %v", es, err)
			}
			base := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
			for i := range 5 {
				e := AuditEntry{Time: base.Add(time.Duration(i) * time.Second), Who: "ops", Role: "operator",
					Method: "POST", Path: fmt.Sprintf("/api/v1/clusters/c%d/drain", i), Status: 200, Remote: "127.0.0.1:5000", Replica: "r1"}
				if err := a.Record(ctx, e, 3); err != nil {
					t.Fatal(err)
				}
			}
			es, err := a.Recent(ctx, 10)
			if err != nil || len(es) != 3 {
				t.Fatalf("recent: %+v %v, want the newest 3", es, err)
			}
			if es[0].Path != "/api/v1/clusters/c4/drain" || es[2].Path != "/api/v1/clusters/c2/drain" {
				t.Fatalf("recent: %+v, want newest first", es)
			}
			if got := es[0]; got.Who != "ops" || got.Role != "operator" || got.Status != 200 || got.Replica != "r1" || !got.Time.Equal(base.Add(4*time.Second)) {
				t.Fatalf("entry not kept whole: %+v", got)
			}
			if es, _ := a.Recent(ctx, 1); len(es) != 1 || es[0].Path != "/api/v1/clusters/c4/drain" {
				t.Fatalf("recent 1: %+v", es)
			}
			if es, err := a.Recent(ctx, 0); err != nil || len(es) != 0 {
				t.Fatalf("recent 0: %+v %v", es, err)
			}
		})
	}
}

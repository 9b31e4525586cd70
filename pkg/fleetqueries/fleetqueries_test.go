package fleetqueries

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/coordinator"
	"github.com/switchyard-gw/switchyard/pkg/fleet"
)

type fakeLister map[string][]coordinator.QuerySummary

func (f fakeLister) Queries(_ context.Context, base, state string) ([]coordinator.QuerySummary, error) {
	if base == "http://down" {
		return nil, errors.New("connection refused")
	}
	var out []coordinator.QuerySummary
	for _, q := range f[base] {
		if state == "" || q.State == state {
			out = append(out, q)
		}
	}
	return out, nil
}

func sq(id, user, state string, created time.Time, sql string) coordinator.QuerySummary {
	q := coordinator.QuerySummary{QueryID: id, State: state, Query: sql}
	q.Session.User = user
	q.Stats.Created = created
	q.Stats.Elapsed = coordinator.Duration(1500 * time.Millisecond)
	return q
}

func TestCollect(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	f := &fleet.Fleet{Clusters: []fleet.Cluster{
		{Name: "a", Group: "adhoc", Coordinators: []fleet.Coordinator{{Name: "0", URL: "http://a0"}}},
		{Name: "b", Group: "adhoc", Coordinators: []fleet.Coordinator{{Name: "0", URL: "http://b0"}, {Name: "1", URL: "http://down"}}},
	}}
	l := fakeLister{
		"http://a0": {sq("qa1", "alice", "FINISHED", t0, "SELECT 1"), sq("qa2", "bob", "RUNNING", t0.Add(2*time.Second), strings.Repeat("x", MaxQueryText+10))},
		"http://b0": {sq("qb1", "alice", "RUNNING", t0.Add(time.Second), "SELECT 2")},
	}
	v := Collect(context.Background(), f, l, Filter{}, time.Second)
	var ids []string
	for _, q := range v.Queries {
		ids = append(ids, q.Cluster+":"+q.QueryID)
	}
	if got := strings.Join(ids, " "); got != "a:qa2 b:qb1 a:qa1" {
		t.Fatalf("queries %s; want every cluster's, newest first", got)
	}
	if len(v.Failed) != 1 || v.Failed[0].Cluster != "b" || v.Failed[0].Coordinator != "1" {
		t.Fatalf("failed %+v; want b/1 reported", v.Failed)
	}
	if q := v.Queries[0]; len(q.Query) > MaxQueryText+4 || q.ElapsedMs != 1500 || q.Group != "adhoc" {
		t.Fatalf("entry %+v", q)
	}
	if v := Collect(context.Background(), f, l, Filter{User: "alice", State: "RUNNING"}, time.Second); len(v.Queries) != 1 || v.Queries[0].QueryID != "qb1" {
		t.Fatalf("filtered %+v", v.Queries)
	}
	if v := Collect(context.Background(), f, l, Filter{Limit: 1}, time.Second); len(v.Queries) != 1 || v.Queries[0].QueryID != "qa2" {
		t.Fatalf("limited %+v", v.Queries)
	}
}

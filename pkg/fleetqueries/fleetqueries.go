// Package fleetqueries is the fleet's view of recent and running queries:
// what system.runtime.queries shows for one cluster, for every cluster of
// the fleet at once, with the cluster and coordinator of each query, so a
// tool that looks a query up knows where to look.
package fleetqueries

import (
	"context"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/coordinator"
	"github.com/switchyard-gw/switchyard/pkg/fleet"
)

// Lister reads one coordinator's queries (coordinator.Client).
type Lister interface {
	Queries(ctx context.Context, baseURL, state string) ([]coordinator.QuerySummary, error)
}

// Filter narrows the view.
type Filter struct {
	// State keeps queries in this state (QUEUED, RUNNING, FINISHED,
	// FAILED, ...); empty: all.
	State string
	// User keeps one user's queries; empty: all.
	User string
	// Limit bounds the answer, newest first (0: 1000).
	Limit int
}

// MaxQueryText bounds the SQL text of each query in the view.
const MaxQueryText = 2000

// Query is one query of the fleet.
type Query struct {
	QueryID     string    `json:"queryId"`
	Cluster     string    `json:"cluster"`
	Coordinator string    `json:"coordinator"`
	Group       string    `json:"group"`
	State       string    `json:"state"`
	User        string    `json:"user"`
	Source      string    `json:"source,omitempty"`
	QueryType   string    `json:"queryType,omitempty"`
	Query       string    `json:"query"`
	Created     time.Time `json:"created"`
	ElapsedMs   int64     `json:"elapsedMs"`
	Error       string    `json:"error,omitempty"`
}

// Failure is a coordinator that could not be read.
type Failure struct {
	Cluster     string `json:"cluster"`
	Coordinator string `json:"coordinator"`
	Error       string `json:"error"`
}

// View is the fleet's queries, newest first, and the coordinators that
// did not answer (their queries are missing from it).
type View struct {
	Queries []Query   `json:"queries"`
	Failed  []Failure `json:"failed"`
}

// Collect asks every coordinator of the fleet at once, each bounded by
// timeout.
func Collect(ctx context.Context, f *fleet.Fleet, l Lister, flt Filter, timeout time.Duration) View {
	if flt.Limit <= 0 {
		flt.Limit = 1000
	}
	var (
		mu sync.Mutex
		wg sync.WaitGroup
		v  = View{Queries: []Query{}, Failed: []Failure{}}
	)
	for _, c := range f.Clusters {
		for _, co := range c.Coordinators {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cctx, cancel := context.WithTimeout(ctx, timeout)
				defer cancel()
				qs, err := l.Queries(cctx, co.URL, flt.State)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					v.Failed = append(v.Failed, Failure{Cluster: c.Name, Coordinator: co.Name, Error: err.Error()})
					return
				}
				for _, q := range qs {
					if flt.User != "" && q.Session.User != flt.User {
						continue
					}
					v.Queries = append(v.Queries, entry(c, co, q))
				}
			}()
		}
	}
	wg.Wait()
	sort.Slice(v.Queries, func(i, j int) bool {
		a, b := v.Queries[i], v.Queries[j]
		if !a.Created.Equal(b.Created) {
			return a.Created.After(b.Created)
		}
		return a.QueryID > b.QueryID
	})
	sort.Slice(v.Failed, func(i, j int) bool {
		return v.Failed[i].Cluster+"/"+v.Failed[i].Coordinator < v.Failed[j].Cluster+"/"+v.Failed[j].Coordinator
	})
	if len(v.Queries) > flt.Limit {
		v.Queries = v.Queries[:flt.Limit]
	}
	return v
}

func entry(c fleet.Cluster, co fleet.Coordinator, q coordinator.QuerySummary) Query {
	text := q.Query
	if len(text) > MaxQueryText {
		text = strings.ToValidUTF8(text[:MaxQueryText], "") + "…"
	}
	out := Query{
		QueryID: q.QueryID, Cluster: c.Name, Coordinator: co.Name, Group: c.Group, State: q.State,
		User: q.Session.User, Source: q.Session.Source, QueryType: q.QueryType, Query: text,
		Created: q.Stats.Created, ElapsedMs: time.Duration(q.Stats.Elapsed).Milliseconds(),
	}
	if q.ErrorCode != nil {
		out.Error = q.ErrorCode.Name
	}
	return out
}

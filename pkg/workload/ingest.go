package workload

import (
	"context"
	"fmt"
	"strings"

	"github.com/switchyard-gw/switchyard/pkg/events"
	"github.com/switchyard-gw/switchyard/pkg/governance"
	"github.com/switchyard-gw/switchyard/pkg/store"
)

// Ingest takes one event of a cluster's Trino event listener (it is the
// ingest endpoint's sink): a completion releases the query's running slot
// and charges its CPU time and scanned bytes to its class and user, once;
// every event updates the query's record in the recent-query history. An
// event for a query the gateway never admitted (sent to the cluster
// directly, or ungoverned) is recorded, not an error. An error makes the
// endpoint answer 503, so Trino's listener sends the event again (both
// steps are idempotent).
func (g *Governor) Ingest(ctx context.Context, cluster string, e *events.Event) error {
	rec := record(cluster, e)
	if e.Kind == events.Completed {
		if cfg, _ := g.Config(); cfg != nil {
			out, err := g.Complete(ctx, store.Completion{QueryID: e.QueryID, Class: classFromTags(e.ClientTags), User: e.User,
				CPUSeconds: e.CPUTime.Seconds(), Bytes: float64(e.PhysicalInputBytes)})
			if err != nil {
				return fmt.Errorf("completing query %s: %w", e.QueryID, err)
			}
			rec.Class = out.Class
			if out.Released {
				g.o.Logger.Debug("query completed; its running slot is free", "query", e.QueryID, "cluster", cluster, "class", out.Class, "charged", out.Charged)
			}
		}
	}
	if g.o.History == nil {
		return nil
	}
	sctx, cancel := g.ctx(ctx)
	defer cancel()
	if err := g.o.History.PutQuery(sctx, rec, g.o.HistorySize); err != nil {
		return fmt.Errorf("recording query %s: %w", e.QueryID, err)
	}
	return nil
}

// classFromTags reads the class tag the gateway added.
func classFromTags(tags []string) string {
	for _, t := range tags {
		if c, ok := strings.CutPrefix(t, governance.ClientTagPrefix); ok {
			return c
		}
	}
	return ""
}

// record is the history record an event makes.
func record(cluster string, e *events.Event) store.QueryRecord {
	r := store.QueryRecord{
		QueryID: e.QueryID, User: e.User, Source: e.Source, Class: classFromTags(e.ClientTags), Cluster: cluster,
		QueryType: e.QueryType, State: e.State, ErrorName: e.ErrorName, Error: e.FailureMessage, Query: e.Query,
		Groups: e.ResourceGroupID, Created: e.CreateTime, Started: e.ExecutionStartTime, Ended: e.EndTime,
		CPUSeconds: e.CPUTime.Seconds(), WallSeconds: e.WallTime.Seconds(), QueuedSeconds: e.QueuedTime.Seconds(),
		PeakMemoryBytes: e.PeakUserMemoryBytes, ScannedBytes: e.PhysicalInputBytes, OutputRows: e.OutputRows, WrittenBytes: e.WrittenBytes,
	}
	if e.Kind == events.Created && r.State == "" {
		r.State = "QUEUED"
	}
	return r
}

package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// History keeps the recent queries of the fleet (from Trino's event
// listener): who ran what, in which class and on which cluster, what it
// cost and how it ended, newest first, bounded in number.
type History interface {
	// PutQuery records a query, replacing an earlier record of it (a
	// completion replaces the record of its creation) in one step, as
	// mergeRecord says: a record of a query that has not ended does not
	// replace one that has, and a record without a class keeps the class
	// of the one it replaces. The oldest records beyond keep are dropped.
	PutQuery(ctx context.Context, r QueryRecord, keep int) error
	// GetQuery returns one query's record, or ErrNotFound.
	GetQuery(ctx context.Context, id string) (QueryRecord, error)
	// RecentQueries returns up to n records, newest first.
	RecentQueries(ctx context.Context, n int) ([]QueryRecord, error)
}

// QueryRecord is one query of the history.
type QueryRecord struct {
	QueryID     string `json:"queryId"`
	User        string `json:"user"`
	Source      string `json:"source,omitempty"`
	Class       string `json:"class,omitempty"`
	Cluster     string `json:"cluster"`
	Coordinator string `json:"coordinator,omitempty"`
	QueryType   string `json:"queryType,omitempty"`
	// State is Trino's (QUEUED, RUNNING, FINISHED, FAILED).
	State     string   `json:"state"`
	ErrorName string   `json:"errorName,omitempty"`
	Error     string   `json:"error,omitempty"`
	Query     string   `json:"query,omitempty"`
	Groups    []string `json:"resourceGroup,omitempty"`

	Created time.Time `json:"created"`
	Started time.Time `json:"started,omitzero"`
	Ended   time.Time `json:"ended,omitzero"`

	CPUSeconds      float64 `json:"cpuSeconds"`
	WallSeconds     float64 `json:"wallSeconds"`
	QueuedSeconds   float64 `json:"queuedSeconds"`
	PeakMemoryBytes int64   `json:"peakMemoryBytes"`
	ScannedBytes    int64   `json:"scannedBytes"`
	OutputRows      int64   `json:"outputRows"`
	WrittenBytes    int64   `json:"writtenBytes"`
}

// mergeRecord is the record that recording cur makes of a query recorded
// as old, and whether it replaces old: Trino's events of one query
// (created, completed) may arrive in either order, and at different
// replicas.
func mergeRecord(old, cur QueryRecord) (QueryRecord, bool) {
	if !old.Ended.IsZero() && cur.Ended.IsZero() {
		return old, false // the completion is recorded already
	}
	if cur.Class == "" {
		cur.Class = old.Class
	}
	return cur, true
}

// orderKey is the record's place in the history (its creation, else
// now).
func (r QueryRecord) orderKey() int64 {
	if !r.Created.IsZero() {
		return r.Created.UnixMilli()
	}
	return time.Now().UnixMilli()
}

func encodeRecord(r QueryRecord) ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encoding query record %s: %w", r.QueryID, err)
	}
	return b, nil
}

func decodeRecord(b []byte) (QueryRecord, error) {
	var r QueryRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("decoding a query record: %w", err)
	}
	return r, nil
}

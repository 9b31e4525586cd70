package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Replays keeps what the gateway needs to run a read-only query again when
// the coordinator running it dies before the client fetched any of its
// results (transparent resubmission), and the answer a resubmission gave,
// so a client that repeats its poll gets the same new query, not a second.
type Replays interface {
	// PutReplay records how to run a query again, for ttl (it replaces an
	// earlier record of the query).
	PutReplay(ctx context.Context, queryID string, r Replay, ttl time.Duration) error
	// GetReplay returns a query's record, or ErrNotFound.
	GetReplay(ctx context.Context, queryID string) (Replay, error)
}

// Replay is a read-only submission as the gateway can send it again.
type Replay struct {
	// SQL is the statement text.
	SQL string `json:"sql"`
	// Headers are the X-Trino-* request headers the coordinator received
	// (the client's, plus any the gateway added), in order.
	Headers []Header `json:"headers,omitempty"`
	// Group is the routing group the query was admitted to.
	Group string `json:"group"`
	// User is the submitting user (for logs).
	User string `json:"user,omitempty"`
	// Attempt counts resubmissions before this one (0: the original).
	Attempt int `json:"attempt,omitempty"`
	// Answer, once the query has been resubmitted, is the first
	// QueryResults of the query that replaced it.
	Answer []byte `json:"answer,omitempty"`
	// ReplacedBy is that query's ID.
	ReplacedBy string `json:"replacedBy,omitempty"`
}

// Header is one HTTP header.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

func encodeReplay(queryID string, r Replay) ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encoding the replay of query %s: %w", queryID, err)
	}
	return b, nil
}

func decodeReplay(queryID string, b []byte) (Replay, error) {
	var r Replay
	if err := json.Unmarshal(b, &r); err != nil {
		return Replay{}, fmt.Errorf("decoding the replay of query %s: %w", queryID, err)
	}
	return r, nil
}

package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Sessions keeps client sessions on their clusters (session affinity):
// for each session the gateway has seen, the cluster each of its routing
// groups sends it to. A record lives while its session is in use: every
// read restarts its idle TTL. A lost record costs the session a new pin,
// never an error.
type Sessions interface {
	// GetSession returns a session's record and restarts its idle TTL, or
	// ErrNotFound.
	GetSession(ctx context.Context, id string, ttl time.Duration) (ClientSession, error)
	// PutSession records (replaces) a session's record, with idle TTL ttl.
	PutSession(ctx context.Context, id string, s ClientSession, ttl time.Duration) error
}

// ClientSession is where one client session goes.
type ClientSession struct {
	// User is the session's user: a record is only followed by requests
	// of the same user.
	User string `json:"user"`
	// Clusters maps a routing group to the cluster it sends the session to.
	Clusters map[string]string `json:"clusters"`
	// Tokens, for a web UI session, map a coordinator (cluster/name) to
	// the UI token it gave the user at login.
	Tokens map[string]string `json:"tokens,omitempty"`
}

func encodeSession(id string, s ClientSession) ([]byte, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encoding session %s: %w", id, err)
	}
	return b, nil
}

func decodeSession(id string, b []byte) (ClientSession, error) {
	var s ClientSession
	if err := json.Unmarshal(b, &s); err != nil {
		return ClientSession{}, fmt.Errorf("decoding session %s: %w", id, err)
	}
	return s, nil
}

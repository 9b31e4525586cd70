package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Audit keeps the record of every change made through the admin API:
// who made it (the token's holder and role), what it was (method, path,
// a short description, the answer's status) and when, newest first,
// bounded in number and shared by every control-plane replica.
type Audit interface {
	// Record appends an entry; the oldest entries beyond keep are dropped.
	Record(ctx context.Context, e AuditEntry, keep int) error
	// Recent returns up to n entries, newest first.
	Recent(ctx context.Context, n int) ([]AuditEntry, error)
}

// AuditEntry is one change. It never holds a secret: no token, no
// request body.
type AuditEntry struct {
	Time time.Time `json:"time"`
	// Who is the holder's name (the token's name in admin.tokens), Role
	// the role it acted with.
	Who  string `json:"who"`
	Role string `json:"role"`
	// Method and Path are the request's; Status is the answer's (a
	// refused change is recorded too).
	Method string `json:"method"`
	Path   string `json:"path"`
	Status int    `json:"status"`
	// Remote is the caller's address; Replica the control plane that
	// served it.
	Remote  string `json:"remote,omitempty"`
	Replica string `json:"replica,omitempty"`
	// Detail describes the change in a few words when the path does not
	// say it all (for example a policy upload's size).
	Detail string `json:"detail,omitempty"`
}

func encodeAudit(e AuditEntry) ([]byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("audit entry: %w", err)
	}
	return b, nil
}

func decodeAudit(b []byte) (AuditEntry, error) {
	var e AuditEntry
	if err := json.Unmarshal(b, &e); err != nil {
		return AuditEntry{}, fmt.Errorf("audit entry: %w", err)
	}
	return e, nil
}

package policy

import (
	"sync"
	"time"
)

// LogEntry is one routing decision in the decision log.
type LogEntry struct {
	ID      string    `json:"id"`
	Time    time.Time `json:"time"`
	QueryID string    `json:"queryId,omitempty"`
	User    string    `json:"user"`
	// Principal is the identity the gateway verified (empty without
	// client authentication); User differs from it only by an allowed
	// impersonation.
	Principal string   `json:"principal,omitempty"`
	Source    string   `json:"source,omitempty"`
	Type      string   `json:"type"`
	Tables    []string `json:"tables,omitempty"`
	Group     string   `json:"group,omitempty"`
	Cluster   string   `json:"cluster,omitempty"`
	// Class is the workload class (workload governance).
	Class       string   `json:"class,omitempty"`
	Allow       bool     `json:"allow"`
	Error       string   `json:"error,omitempty"` // the error the client got, if any
	Reason      string   `json:"reason,omitempty"`
	Explanation []string `json:"explanation,omitempty"`
	Policy      string   `json:"policy,omitempty"`
	Micros      int64    `json:"micros"` // time to decide
}

// DecisionLog keeps the most recent decisions in memory for the admin API
// (every decision is also logged).
type DecisionLog struct {
	mu      sync.Mutex
	entries []*LogEntry
	next    int
	full    bool
}

// NewDecisionLog keeps the last size decisions.
func NewDecisionLog(size int) *DecisionLog {
	if size <= 0 {
		size = 1000
	}
	return &DecisionLog{entries: make([]*LogEntry, size)}
}

// Add records an entry; it may still be completed with SetQueryID.
func (l *DecisionLog) Add(e *LogEntry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries[l.next] = e
	l.next = (l.next + 1) % len(l.entries)
	if l.next == 0 {
		l.full = true
	}
}

// SetQueryID completes an entry with the query ID Trino assigned.
func (l *DecisionLog) SetQueryID(e *LogEntry, id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e.QueryID = id
}

// Recent returns up to n entries, newest first, copied.
func (l *DecisionLog) Recent(n int) []LogEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	size := l.next
	if l.full {
		size = len(l.entries)
	}
	if n <= 0 || n > size {
		n = size
	}
	out := make([]LogEntry, 0, n)
	for i := 1; i <= n; i++ {
		idx := (l.next - i + len(l.entries)) % len(l.entries)
		out = append(out, *l.entries[idx])
	}
	return out
}

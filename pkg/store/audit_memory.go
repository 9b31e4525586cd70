package store

import (
	"context"
	"slices"
	"sync"
)

// memAudit is Audit in one process.
type memAudit struct {
	mu      sync.Mutex
	entries []AuditEntry // oldest first
}

func (a *memAudit) Record(_ context.Context, e AuditEntry, keep int) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if keep < 1 {
		keep = 1
	}
	a.entries = append(a.entries, e)
	if over := len(a.entries) - keep; over > 0 {
		a.entries = slices.Delete(a.entries, 0, over)
	}
	return nil
}

func (a *memAudit) Recent(_ context.Context, n int) ([]AuditEntry, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	n = min(max(n, 0), len(a.entries))
	out := make([]AuditEntry, 0, n)
	for i := len(a.entries) - 1; i >= len(a.entries)-n; i-- {
		out = append(out, a.entries[i])
	}
	return out, nil
}

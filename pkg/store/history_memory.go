package store

import (
	"context"
	"sort"
	"sync"
)

// memHistory is History in one process.
type memHistory struct {
	mu      sync.Mutex
	records map[string]QueryRecord
	order   map[string]int64
}

func newMemHistory() *memHistory {
	return &memHistory{records: map[string]QueryRecord{}, order: map[string]int64{}}
}

func (h *memHistory) PutQuery(_ context.Context, r QueryRecord, keep int) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	r.Groups = append([]string(nil), r.Groups...)
	if old, ok := h.records[r.QueryID]; ok {
		var replaces bool
		if r, replaces = mergeRecord(old, r); !replaces {
			return nil
		}
	}
	h.records[r.QueryID] = r
	h.order[r.QueryID] = r.orderKey()
	if keep < 1 {
		keep = 1
	}
	if over := len(h.records) - keep; over > 0 {
		for _, id := range h.sorted()[len(h.records)-over:] {
			delete(h.records, id)
			delete(h.order, id)
		}
	}
	return nil
}

// sorted lists the IDs newest first (ties by ID, newest last as Redis
// orders equal scores).
func (h *memHistory) sorted() []string {
	ids := make([]string, 0, len(h.order))
	for id := range h.order {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool {
		if h.order[ids[i]] != h.order[ids[j]] {
			return h.order[ids[i]] > h.order[ids[j]]
		}
		return ids[i] > ids[j]
	})
	return ids
}

func (h *memHistory) GetQuery(_ context.Context, id string) (QueryRecord, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r, ok := h.records[id]
	if !ok {
		return QueryRecord{}, ErrNotFound
	}
	return r, nil
}

func (h *memHistory) RecentQueries(_ context.Context, n int) ([]QueryRecord, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ids := h.sorted()
	if len(ids) > n {
		ids = ids[:max(n, 0)]
	}
	out := make([]QueryRecord, 0, len(ids))
	for _, id := range ids {
		out = append(out, h.records[id])
	}
	return out, nil
}

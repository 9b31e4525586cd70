package trinosim

import (
	"sync"
	"time"
)

// numShards splits the query table so concurrent requests for different
// queries rarely contend for a lock. A power of two.
const numShards = 64

// query is the simulator's record of one query. All fields except the
// immutable id, slug, sql and user are guarded by the lock of its shard.
type query struct {
	id, slug, sql, user string
	// What its events report (set only when the server posts events):
	// the raw X-Trino-Source, -Client-Tags, -Catalog and -Schema headers
	// and the address it was submitted to.
	source, tags, catalog, schema, host string
	created                             time.Time

	state      string
	err        *queryError // set when state is FAILED
	fail       bool        // fails on dispatch (Options.FailQuery)
	served     int64       // token of the last page served by a GET; 0 after the POST
	lastAccess time.Time
	started    time.Time // when it was dispatched (RUNNING); zero before
	doneAt     time.Time // zero until FINISHED or FAILED
}

func (q *query) done() bool { return !q.doneAt.IsZero() }

// expired reports whether q is past retention at now: retention after it
// finished, or retention after its last request if it is still active (an
// abandoned query).
func (q *query) expired(now time.Time, retention time.Duration) bool {
	ref := q.lastAccess
	if q.done() {
		ref = q.doneAt
	}
	return now.Sub(ref) > retention
}

type shard struct {
	mu sync.Mutex
	m  map[string]*query
	_  [40]byte // keep hot locks on separate cache lines
}

// historyEntry is a finished query in completion order.
type historyEntry struct {
	q      *query
	id     string
	doneAt time.Time
}

// history is the FIFO of finished queries, oldest first. It bounds how many
// finished queries are kept and expires them after retention in O(1)
// amortised time per query, without scanning the table.
type history struct {
	mu      sync.Mutex
	entries []historyEntry
	head    int
}

// push appends e and returns the entries that must be dropped because they
// are past retention at now or exceed max.
func (h *history) push(e historyEntry, now time.Time, retention time.Duration, max int) []historyEntry {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.entries = append(h.entries, e)
	return h.expireLocked(now, retention, max)
}

// expire returns the entries past retention at now or beyond max.
func (h *history) expire(now time.Time, retention time.Duration, max int) []historyEntry {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.expireLocked(now, retention, max)
}

func (h *history) expireLocked(now time.Time, retention time.Duration, max int) []historyEntry {
	var out []historyEntry
	for h.head < len(h.entries) {
		e := h.entries[h.head]
		if len(h.entries)-h.head <= max && now.Sub(e.doneAt) <= retention {
			break
		}
		out = append(out, e)
		h.entries[h.head] = historyEntry{}
		h.head++
	}
	// Compact once the dead prefix dominates, so the slice stays bounded.
	if h.head > 64 && h.head*2 >= len(h.entries) {
		n := copy(h.entries, h.entries[h.head:])
		clear(h.entries[n:])
		h.entries = h.entries[:n]
		h.head = 0
	}
	return out
}

// table is the set of live queries.
type table struct {
	shards  [numShards]shard
	history history
	// abandoned, when set, is called (under the query's shard lock) for
	// an active query dropped because no client polled it for the
	// retention.
	abandoned func(q *query, now time.Time)
}

func newTable() *table {
	t := &table{}
	for i := range t.shards {
		t.shards[i].m = make(map[string]*query)
	}
	return t
}

func (t *table) shardFor(id string) *shard {
	// FNV-1a, inline so the hot path does not allocate.
	h := uint32(2166136261)
	for i := 0; i < len(id); i++ {
		h ^= uint32(id[i])
		h *= 16777619
	}
	return &t.shards[h&(numShards-1)]
}

// insert adds q unless its ID is taken; it reports whether it did.
func (t *table) insert(q *query) bool {
	sh := t.shardFor(q.id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, ok := sh.m[q.id]; ok {
		return false
	}
	sh.m[q.id] = q
	return true
}

// liveLocked returns the query id of sh unless it is missing or expired at
// now (expired queries are removed). The caller holds sh.mu.
func (t *table) liveLocked(sh *shard, id string, now time.Time, retention time.Duration) *query {
	q := sh.m[id]
	if q == nil {
		return nil
	}
	if q.expired(now, retention) {
		t.expireLocked(sh, q, now)
		return nil
	}
	return q
}

// expireLocked removes an expired query; an active one was abandoned.
func (t *table) expireLocked(sh *shard, q *query, now time.Time) {
	delete(sh.m, q.id)
	if !q.done() && t.abandoned != nil {
		t.abandoned(q, now)
	}
}

// drop removes the history entries from the table (unless the ID has been
// reused by a newer query).
func (t *table) drop(entries []historyEntry) {
	for _, e := range entries {
		sh := t.shardFor(e.id)
		sh.mu.Lock()
		if sh.m[e.id] == e.q {
			delete(sh.m, e.id)
		}
		sh.mu.Unlock()
	}
}

// finished records that q reached a final state at doneAt (call without
// holding a shard lock) and drops what history pushes out.
func (t *table) finished(q *query, doneAt, now time.Time, retention time.Duration, max int) {
	t.drop(t.history.push(historyEntry{q: q, id: q.id, doneAt: doneAt}, now, retention, max))
}

// sweep removes every expired query (finished past retention and abandoned
// active ones) and returns how many queries remain.
func (t *table) sweep(now time.Time, retention time.Duration, max int) int {
	t.drop(t.history.expire(now, retention, max))
	n := 0
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		for _, q := range sh.m {
			if q.expired(now, retention) {
				t.expireLocked(sh, q, now)
			}
		}
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

// queryInfo is one element of GET /v1/query.
type queryInfo struct {
	QueryID   string          `json:"queryId"`
	State     string          `json:"state"`
	Query     string          `json:"query"`
	Session   querySession    `json:"session"`
	ErrorCode *queryErrorCode `json:"errorCode,omitempty"`
}

type querySession struct {
	User string `json:"user"`
}

type queryErrorCode struct {
	Code int    `json:"code"`
	Name string `json:"name"`
	Type string `json:"type"`
}

func (q *query) infoLocked() queryInfo {
	qi := queryInfo{QueryID: q.id, State: q.state, Query: q.sql, Session: querySession{User: q.user}}
	if q.err != nil {
		qi.ErrorCode = &queryErrorCode{Code: q.err.code, Name: q.err.name, Type: q.err.typ}
	}
	return qi
}

// list returns the live queries at now.
func (t *table) list(now time.Time, retention time.Duration) []queryInfo {
	out := []queryInfo{}
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		for _, q := range sh.m {
			if !q.expired(now, retention) {
				out = append(out, q.infoLocked())
			}
		}
		sh.mu.Unlock()
	}
	return out
}

package store

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"time"
)

// Governance is the fleet's workload accounting: running slots (each a
// lease owned by the replica that admitted or submitted its query), the
// queue of submissions waiting for one, and rate and quota usage per
// workload class and per user within a class. Every change that reads a
// limit and acts on it is atomic (one Lua script on Redis, one lock in
// memory), so replicas sharing the store never admit more than a limit
// between them.
//
// Limits are passed in with each call (the caller's policy is the
// authority; a store keeps no copy). A zero limit is no limit. A slot or
// queue entry's class may be empty: the query has no class but runs on a
// capped cluster, so only that cluster's count applies.
//
// Usage windows are clock windows: rates per minute, CPU and scanned
// bytes per hour; a quota that is used up refuses new queries until its
// window ends (Reset).
type Governance interface {
	// Admit takes a running slot (ID r.ID) for a new submission when its
	// class, its user and one of r.Candidates (in order; none: any
	// cluster) have room and no queued entry should go first. Otherwise it
	// says why not: MustQueue (Enqueue it), or QuotaExceeded.
	Admit(ctx context.Context, r AdmitRequest) (Admission, error)
	// Enqueue puts a submission in the queue with its payload (what the
	// queue service needs to submit it later), unless a queue limit or a
	// quota refuses it, then admits whatever may run now. The submission
	// itself may be admitted at once (Admitted: it is not kept in the
	// queue).
	Enqueue(ctx context.Context, r EnqueueRequest) (Admission, error)
	// Poll reads a queue entry for its client (the slug must match) and
	// notes that the client is still there. ErrNotFound for an unknown
	// entry or a wrong slug.
	Poll(ctx context.Context, id, slug string, l *Limits) (QueuePoll, error)
	// Claim gives an admitted entry to owner for submission to its
	// cluster until now+claim (the slot's lease moves to owner), with its
	// payload. An entry that another owner holds and whose claim has not
	// expired is returned unclaimed (Claimed false). An admitted entry
	// whose slot expired goes back to the queue.
	Claim(ctx context.Context, id, owner string, claim, slotTTL time.Duration, l *Limits) (QueueClaim, error)
	// Submitted records that owner submitted a claimed entry: its slot
	// now belongs to the query (Bind), and the coordinator's first answer
	// is kept for polls that repeat.
	Submitted(ctx context.Context, id, owner string, b Binding, answer []byte, keep time.Duration) error
	// Requeue puts a claimed entry back in the queue (its submission
	// failed), releasing its slot.
	Requeue(ctx context.Context, id, owner string, l *Limits, o DispatchOptions) error
	// Finish ends an entry that will not run (canceled, abandoned, failed)
	// with the error its client reads, releasing its slot. The entry is
	// returned as it was.
	Finish(ctx context.Context, id string, e EntryError, l *Limits, o DispatchOptions) (QueueEntry, error)
	// Bind ties a slot to the query it admitted, on the coordinator that
	// answered (which may differ from the slot's cluster when Envoy failed
	// over).
	Bind(ctx context.Context, slot string, b Binding) error
	// Release frees a slot (the submission failed before a query existed,
	// or reconciliation found the query gone) and admits from the queue.
	// It reports whether the slot existed.
	Release(ctx context.Context, slot string, l *Limits, o DispatchOptions) (bool, error)
	// Complete ends a query: its slot (if any) is released, and its usage
	// charged to its class and user once (a repeated completion charges
	// nothing), then the queue admits what may run.
	Complete(ctx context.Context, c Completion, l *Limits, o DispatchOptions) (Completed, error)
	// Renew extends the leases of owner's slots by ttl; it returns the
	// slots that are gone or owned by another replica now.
	Renew(ctx context.Context, owner string, slots []string, ttl time.Duration) ([]string, error)
	// Adopt makes owner the holder of slots whose replica stopped
	// renewing them (their queries still run), for ttl.
	Adopt(ctx context.Context, owner string, slots []string, ttl time.Duration) error
	// Tick expires slots whose leases ended, drops entries no client
	// polled within o.ClientTimeout (ABANDONED_QUERY), forgets finished
	// entries after o.Keep, and admits what may run.
	Tick(ctx context.Context, l *Limits, o DispatchOptions) (TickResult, error)
	// Snapshot reads the whole state (for the admin API and
	// reconciliation).
	Snapshot(ctx context.Context) (GovernanceSnapshot, error)
	// AdjustUsage adds to (or, with Reset, clears) a class's or a user's
	// usage in the current windows.
	AdjustUsage(ctx context.Context, a UsageAdjustment) error
}

// Limits are the governance limits a call applies: per class (by name)
// and per cluster.
type Limits struct {
	Classes  map[string]ClassLimits `json:"classes"`
	Clusters map[string]int         `json:"clusters"`
	// MaxQueued bounds the whole queue (0: none).
	MaxQueued int `json:"maxQueued"`
	// Throttled are the users query protection throttles, with how many
	// queries each may run at once in a class (their further queries
	// wait in the queue): a lower per-user limit for a while.
	Throttled map[string]int `json:"tu,omitempty"`

	encoded atomic.Pointer[[]byte] // the JSON scripts read, made on first use
}

// ClassLimits are one class's limits; User* apply to each user within it.
type ClassLimits struct {
	Priority      int     `json:"p"`
	MaxRunning    int     `json:"r"`
	MaxQueued     int     `json:"q"`
	PerMinute     int     `json:"m"`
	CPUPerHour    float64 `json:"cpu"`
	BytesPerHour  float64 `json:"b"`
	UserRunning   int     `json:"ur"`
	UserQueued    int     `json:"uq"`
	UserPerMinute int     `json:"um"`
	UserCPU       float64 `json:"ucpu"`
	UserBytes     float64 `json:"ub"`
}

// json is the limits as the scripts read them (made once per Limits).
func (l *Limits) json() []byte {
	if l == nil {
		return []byte(`{"classes":{},"clusters":{}}`)
	}
	if b := l.encoded.Load(); b != nil {
		return *b
	}
	c := struct {
		Classes   map[string]ClassLimits `json:"classes"`
		Clusters  map[string]int         `json:"clusters"`
		MaxQueued int                    `json:"maxQueued"`
		Throttled map[string]int         `json:"tu,omitempty"`
	}{l.Classes, l.Clusters, l.MaxQueued, l.Throttled}
	if c.Classes == nil {
		c.Classes = map[string]ClassLimits{}
	}
	if c.Clusters == nil {
		c.Clusters = map[string]int{}
	}
	b, err := json.Marshal(c)
	if err != nil { // only maps of plain values
		panic(err)
	}
	l.encoded.Store(&b) // two callers at once make equal bytes
	return b
}

func (l *Limits) class(name string) (ClassLimits, bool) {
	if l == nil {
		return ClassLimits{}, false
	}
	c, ok := l.Classes[name]
	return c, ok
}

func (l *Limits) cluster(name string) int {
	if l == nil {
		return 0
	}
	return l.Clusters[name]
}

// AdmitRequest is a new submission asking for a slot.
type AdmitRequest struct {
	// ID names the slot (and the queue entry, if it queues).
	ID    string
	Class string
	User  string
	// Candidates are the clusters the query may run on, in the order
	// routing prefers them; the first with room under its cap is taken.
	// Empty: the cluster is chosen later and no cluster cap applies.
	Candidates []string
	// Owner is the replica that will hold the slot's lease, for SlotTTL.
	Owner   string
	SlotTTL time.Duration
	Limits  *Limits
	// Force admits without checking running limits (a statement of an
	// open transaction, which only its coordinator can run); quotas still
	// apply.
	Force bool
}

// EnqueueRequest is a submission that must wait.
type EnqueueRequest struct {
	AdmitRequest
	// Slug is the secret part of the entry's URIs: a poll must carry it.
	Slug string
	// Payload is what submitting it later needs (opaque to the store).
	Payload []byte
	// Dispatch applies to the admissions the enqueue triggers.
	Dispatch DispatchOptions
}

// DispatchOptions bound the work of a call that admits from the queue.
type DispatchOptions struct {
	// Owner holds the slots of entries admitted by the call, for SlotTTL.
	Owner   string
	SlotTTL time.Duration
	// Scan bounds how many queue entries one call looks at (default 500).
	Scan int
	// ClientTimeout drops an entry no client polled for this long (Tick).
	ClientTimeout time.Duration
	// Keep is how long a finished entry answers its polls (Tick).
	Keep time.Duration
}

func (o DispatchOptions) scan() int {
	if o.Scan <= 0 {
		return 500
	}
	return o.Scan
}

// Outcome is what became of a submission.
type Outcome string

// Outcomes.
const (
	Admitted      Outcome = "admitted"
	MustQueue     Outcome = "queue"  // Admit: it must wait (Enqueue it)
	Queued        Outcome = "queued" // Enqueue: it waits
	QueueFull     Outcome = "full"   // Enqueue: a queue limit refuses it
	QuotaExceeded Outcome = "quota"  // a rate or quota is used up
)

// Admission is the answer to Admit or Enqueue.
type Admission struct {
	Outcome Outcome `json:"o"`
	// Cluster is the capped candidate the slot was taken on ("" when the
	// request had no candidates).
	Cluster string `json:"k,omitempty"`
	// Quota says which rate or quota is used up (QuotaExceeded).
	Quota *QuotaHit `json:"quota,omitempty"`
	// Full says which queue limit refused it (QueueFull).
	Full *LimitHit `json:"full,omitempty"`
	// Waiting says why it cannot run now (MustQueue, Queued).
	Waiting *LimitHit `json:"wait,omitempty"`
	// Position is its place in the queue, from 1 (Queued).
	Position int `json:"pos,omitempty"`
}

// QuotaHit is a used-up rate or quota.
type QuotaHit struct {
	// Kind is "rate" (queries per minute), "cpu" (CPU seconds per hour)
	// or "bytes" (scanned bytes per hour).
	Kind string `json:"kind"`
	// Scope is "class" or "user".
	Scope  string    `json:"scope"`
	Limit  float64   `json:"limit"`
	Used   float64   `json:"used"`
	Resets time.Time `json:"-"`
	// ResetsMs is Resets in Unix milliseconds (as the scripts write it).
	ResetsMs int64 `json:"reset"`
}

// LimitHit is a limit a submission ran into.
type LimitHit struct {
	// Scope is "class", "user", "cluster" (every candidate cluster is at
	// its cap) or "gateway" (the whole queue).
	Scope string `json:"scope"`
	Limit int    `json:"limit"`
}

// EntryState is where a queue entry is in its life.
type EntryState string

// Entry states.
const (
	EntryQueued    EntryState = "queued"    // waiting for a slot
	EntryAdmitted  EntryState = "admitted"  // has a slot, waits for a replica to submit it
	EntryClaimed   EntryState = "claimed"   // a replica is submitting it
	EntrySubmitted EntryState = "submitted" // running on a cluster; its first answer is kept
	EntryFinished  EntryState = "finished"  // ended without running (Error says why)
)

// QueueEntry is one queued submission.
type QueueEntry struct {
	ID       string     `json:"id"`
	State    EntryState `json:"s"`
	Class    string     `json:"c"`
	User     string     `json:"u"`
	Priority int        `json:"p"`
	// Candidates are the clusters it may run on (empty: any).
	Candidates []string `json:"k"`
	// Cluster is the capped cluster its slot is on, once admitted.
	Cluster string `json:"cl"`
	// Enqueued is when it entered the queue (Unix ms).
	EnqueuedMs int64 `json:"t"`
	// Owner and ClaimUntilMs: the replica submitting it, and until when.
	Owner        string `json:"o"`
	ClaimUntilMs int64  `json:"cu"`
	// Attempts counts its claims.
	Attempts int `json:"att"`
	// QueryID is the Trino query it became.
	QueryID string `json:"q"`
	// Error is why it finished.
	Error *EntryError `json:"err,omitempty"`

	Slug string  `json:"slug"`
	Tag  float64 `json:"tag"`
}

// Enqueued is when the entry entered the queue.
func (e QueueEntry) Enqueued() time.Time { return time.UnixMilli(e.EnqueuedMs) }

// EntryError is why an entry ended without running.
type EntryError struct {
	// Name is the Trino-shaped error's name (USER_CANCELED,
	// ABANDONED_QUERY, ...).
	Name    string `json:"name"`
	Message string `json:"msg"`
}

// QueuePoll is a queue entry as its client's poll finds it.
type QueuePoll struct {
	Entry QueueEntry `json:"e"`
	// Position is its place in the queue from 1 (queued entries only).
	Position int `json:"pos"`
	// Running are the counts that hold it back: its class's, its user's,
	// and each candidate cluster's.
	ClassRunning int            `json:"rc"`
	UserRunning  int            `json:"ru"`
	Clusters     map[string]int `json:"rk"`
	// Answer is the coordinator's first answer (submitted entries).
	Answer []byte `json:"-"`
}

// QueueClaim is the answer to Claim.
type QueueClaim struct {
	Entry QueueEntry
	// Claimed: the caller holds the entry now and submits Payload.
	Claimed bool
	Payload []byte
}

// Binding ties a slot to its query.
type Binding struct {
	QueryID     string `json:"q"`
	Cluster     string `json:"k"`
	Coordinator string `json:"co"`
}

// Completion is a finished query's usage.
type Completion struct {
	QueryID string
	// Class and User are charged when the query has no slot any more (its
	// lease expired, or it was never admitted by the gateway); a slot's own
	// class and user win.
	Class, User string
	CPUSeconds  float64
	Bytes       float64
}

// Completed is what Complete did.
type Completed struct {
	Released bool   `json:"released"`
	Charged  bool   `json:"charged"`
	Class    string `json:"class"`
	User     string `json:"user"`
}

// TickResult is what Tick did.
type TickResult struct {
	Expired   int `json:"expired"`
	Abandoned int `json:"abandoned"`
	Admitted  int `json:"admitted"`
}

// Slot is one running slot.
type Slot struct {
	ID          string `json:"-"`
	Class       string `json:"c"`
	User        string `json:"u"`
	Cluster     string `json:"k"`
	Coordinator string `json:"co"`
	QueryID     string `json:"q"`
	Owner       string `json:"o"`
	// AcquiredMs and ExpiresMs are Unix milliseconds.
	AcquiredMs int64 `json:"t"`
	ExpiresMs  int64 `json:"-"`
}

// GovernanceSnapshot is the whole governance state.
type GovernanceSnapshot struct {
	Slots []Slot
	// Queue is in queue order (queued entries), then the others.
	Queue []QueueEntry
	// Running counts by "class", "class|user" and cluster.
	RunningByClass   map[string]int
	RunningByUser    map[string]int
	RunningByCluster map[string]int
	// Usage in the current windows by "kind|class" and "kind|class|user"
	// (kinds rate, cpu, bytes).
	Usage map[string]float64
	// Now is the store's time of the snapshot (windows are computed from
	// it).
	Now time.Time
}

// UsageAdjustment changes a class's or a user's usage.
type UsageAdjustment struct {
	Class string
	// User: empty adjusts the class as a whole.
	User string
	// Kind is "rate", "cpu" or "bytes"; empty with Reset clears all three.
	Kind string
	// Delta is added (negative lowers); Reset clears instead.
	Delta float64
	Reset bool
}

// ErrNotOwner is returned when a replica acts on a queue entry another
// replica holds.
var ErrNotOwner = errors.New("queue entry held by another replica")

// Usage windows.
const (
	RateWindow  = time.Minute
	QuotaWindow = time.Hour
)

// usageKinds are the usage kinds and their windows.
var usageKinds = []struct {
	kind   string
	window time.Duration
}{{"rate", RateWindow}, {"cpu", QuotaWindow}, {"bytes", QuotaWindow}}

func windowOf(kind string) time.Duration {
	if kind == "rate" {
		return RateWindow
	}
	return QuotaWindow
}

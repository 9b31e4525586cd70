package store

import (
	"container/heap"
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// memGovernance is Governance in one process: the same state and rules as
// the Redis scripts (governance_lua.go), under one lock.
type memGovernance struct {
	mu      sync.Mutex
	now     func() time.Time
	slots   map[string]*memSlot
	run     map[string]int
	queue   map[string]float64 // queued entry -> order
	entries map[string]*QueueEntry
	queued  map[string]int
	vt      map[string]float64
	usage   map[string]float64
	usageAt map[string]int64 // usage field -> when it is forgotten
	bySlot  map[string]string
	polled  map[string]int64
	forget  map[string]int64
	charged map[string]int64
	// done is the queries whose completion arrived (10 minutes), in
	// doneOrder's order: a slot bound to one of them is released.
	done      map[string]int64
	doneOrder []chargedAt
	// chargedOrder is charged's keys in the order they were charged (so
	// by time): forgetting old charges takes them from the front.
	chargedOrder []chargedAt
	payload      map[string][]byte
	answer       map[string][]byte
	ms           int64 // the time of the call under way
}

type chargedAt struct {
	id string
	ms int64
}

type memSlot struct {
	Slot
}

func newMemGovernance(now func() time.Time) *memGovernance {
	return &memGovernance{now: now, slots: map[string]*memSlot{}, run: map[string]int{}, queue: map[string]float64{},
		entries: map[string]*QueueEntry{}, queued: map[string]int{}, vt: map[string]float64{}, usage: map[string]float64{},
		usageAt: map[string]int64{}, bySlot: map[string]string{}, polled: map[string]int64{}, forget: map[string]int64{},
		charged: map[string]int64{}, done: map[string]int64{}, payload: map[string][]byte{}, answer: map[string][]byte{}}
}

const (
	govMinute = int64(time.Minute / time.Millisecond)
	govHour   = int64(time.Hour / time.Millisecond)
	govBand   = float64(1 << 40)
)

// lock takes the lock and the call's time.
func (g *memGovernance) lock() func() {
	g.mu.Lock()
	g.ms = g.now().UnixMilli()
	return g.mu.Unlock
}

func (g *memGovernance) incr(m map[string]int, k string, by int) int {
	v := m[k] + by
	if v <= 0 {
		delete(m, k)
		return v
	}
	m[k] = v
	return v
}

func (g *memGovernance) counters(c, u, k string, by int) {
	g.incr(g.run, "all", by)
	if c != "" {
		g.incr(g.run, "c|"+c, by)
		g.incr(g.run, "u|"+c+"|"+u, by)
	}
	if k != "" {
		g.incr(g.run, "k|"+k, by)
	}
}

func (g *memGovernance) newSlot(id, c, u, k, owner string, ttl int64) {
	g.slots[id] = &memSlot{Slot{ID: id, Class: c, User: u, Cluster: k, Owner: owner, AcquiredMs: g.ms, ExpiresMs: g.ms + ttl}}
	g.counters(c, u, k, 1)
}

func (g *memGovernance) dropSlot(id string) *memSlot {
	s, ok := g.slots[id]
	if !ok {
		return nil
	}
	g.counters(s.Class, s.User, s.Cluster, -1)
	delete(g.slots, id)
	if s.QueryID != "" {
		delete(g.bySlot, s.QueryID)
	}
	return s
}

func (g *memGovernance) bind(id string, b Binding) bool {
	s, ok := g.slots[id]
	if !ok {
		return false
	}
	if s.Cluster != b.Cluster {
		if s.Cluster != "" {
			g.incr(g.run, "k|"+s.Cluster, -1)
		}
		if b.Cluster != "" {
			g.incr(g.run, "k|"+b.Cluster, 1)
		}
		s.Cluster = b.Cluster
	}
	if s.QueryID != "" && s.QueryID != b.QueryID {
		delete(g.bySlot, s.QueryID)
	}
	s.QueryID, s.Coordinator = b.QueryID, b.Coordinator
	if b.QueryID != "" {
		g.bySlot[b.QueryID] = id
	}
	return true
}

func (g *memGovernance) window(len int64) (string, int64) {
	w := g.ms / len
	return strconv.FormatInt(w, 10), (w + 1) * len
}

func (g *memGovernance) used(kind string, len int64, scope string) (float64, int64) {
	w, reset := g.window(len)
	return g.usage[kind+"|"+w+"|"+scope], reset
}

func (g *memGovernance) charge(kind string, len int64, scope string, by float64) {
	if by == 0 {
		return
	}
	w, reset := g.window(len)
	f := kind + "|" + w + "|" + scope
	g.usage[f] += by
	if g.usage[f] <= 0 {
		delete(g.usage, f)
	}
	g.usageAt[f] = reset + len
}

func (g *memGovernance) countRate(c, u string) {
	if c == "" {
		return
	}
	g.charge("rate", govMinute, "c|"+c, 1)
	g.charge("rate", govMinute, "u|"+c+"|"+u, 1)
}

func (g *memGovernance) quota(cl ClassLimits, ok bool, c, u string) *QuotaHit {
	if !ok {
		return nil
	}
	for _, k := range []struct {
		kind      string
		len       int64
		own, user float64
	}{{"rate", govMinute, float64(cl.PerMinute), float64(cl.UserPerMinute)}, {"cpu", govHour, cl.CPUPerHour, cl.UserCPU}, {"bytes", govHour, cl.BytesPerHour, cl.UserBytes}} {
		if k.own > 0 {
			if used, reset := g.used(k.kind, k.len, "c|"+c); used >= k.own {
				return &QuotaHit{Kind: k.kind, Scope: "class", Limit: k.own, Used: used, ResetsMs: reset, Resets: time.UnixMilli(reset)}
			}
		}
		if k.user > 0 {
			if used, reset := g.used(k.kind, k.len, "u|"+c+"|"+u); used >= k.user {
				return &QuotaHit{Kind: k.kind, Scope: "user", Limit: k.user, Used: used, ResetsMs: reset, Resets: time.UnixMilli(reset)}
			}
		}
	}
	return nil
}

func (g *memGovernance) room(l *Limits, cl ClassLimits, ok bool, c, u string) *LimitHit {
	if t, throttled := l.Throttled[u]; throttled && g.run["u|"+c+"|"+u] >= t {
		return &LimitHit{Scope: "throttled", Limit: t}
	}
	if !ok {
		return nil
	}
	if cl.MaxRunning > 0 && g.run["c|"+c] >= cl.MaxRunning {
		return &LimitHit{Scope: "class", Limit: cl.MaxRunning}
	}
	if cl.UserRunning > 0 && g.run["u|"+c+"|"+u] >= cl.UserRunning {
		return &LimitHit{Scope: "user", Limit: cl.UserRunning}
	}
	return nil
}

// pick is the first candidate with room under its cap ("" with no
// candidates; ok false when every one is full).
func (g *memGovernance) pick(l *Limits, cands []string) (string, bool) {
	if len(cands) == 0 {
		return "", true
	}
	for _, k := range cands {
		if c := l.cluster(k); c <= 0 || g.run["k|"+k] < c {
			return k, true
		}
	}
	return "", false
}

func firstCap(l *Limits, cands []string) int {
	if len(cands) == 0 {
		return 0
	}
	return l.cluster(cands[0])
}

func (g *memGovernance) sweep() int {
	n := 0
	for id, s := range g.slots {
		if s.ExpiresMs <= g.ms {
			g.dropSlot(id)
			n++
		}
	}
	for f, at := range g.usageAt {
		if at <= g.ms {
			delete(g.usage, f)
			delete(g.usageAt, f)
		}
	}
	return n
}

func (g *memGovernance) dequeue(id string, e *QueueEntry) {
	delete(g.queue, id)
	g.incr(g.queued, "all", -1)
	if g.incr(g.queued, "c|"+e.Class, -1) <= 0 {
		delete(g.vt, "v|"+e.Class)
	}
	if g.incr(g.queued, "u|"+e.Class+"|"+e.User, -1) <= 0 {
		delete(g.vt, "l|"+e.Class+"|"+e.User)
	}
}

func (g *memGovernance) queueEntry(id string, e *QueueEntry) {
	if e.Tag == 0 {
		e.Tag = math.Max(g.vt["v|"+e.Class], g.vt["l|"+e.Class+"|"+e.User]) + 1
		g.vt["l|"+e.Class+"|"+e.User] = e.Tag
	}
	e.State, e.Cluster, e.Owner, e.ClaimUntilMs = EntryQueued, "", "", 0
	g.queue[id] = float64(100-e.Priority)*govBand + e.Tag
	g.incr(g.queued, "all", 1)
	g.incr(g.queued, "c|"+e.Class, 1)
	g.incr(g.queued, "u|"+e.Class+"|"+e.User, 1)
	g.polled[id] = g.ms
	g.entries[id] = e
}

// queueHeap orders queued IDs as order does.
type queueHeap struct {
	g   *memGovernance
	ids []string
}

func (h *queueHeap) Len() int { return len(h.ids) }
func (h *queueHeap) Less(i, j int) bool {
	a, b := h.g.queue[h.ids[i]], h.g.queue[h.ids[j]]
	if a != b {
		return a < b
	}
	return h.ids[i] < h.ids[j]
}
func (h *queueHeap) Swap(i, j int) { h.ids[i], h.ids[j] = h.ids[j], h.ids[i] }
func (h *queueHeap) Push(x any)    { h.ids = append(h.ids, x.(string)) }
func (h *queueHeap) Pop() any {
	x := h.ids[len(h.ids)-1]
	h.ids = h.ids[:len(h.ids)-1]
	return x
}

// order is the queue in admission order (ties by ID, as Redis sorts
// members with equal scores).
func (g *memGovernance) order() []string {
	ids := make([]string, 0, len(g.queue))
	for id := range g.queue {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool {
		a, b := g.queue[ids[i]], g.queue[ids[j]]
		if a != b {
			return a < b
		}
		return ids[i] < ids[j]
	})
	return ids
}

// allBlocked: every queued entry's class is at its running limit, so
// there is nothing to scan (the common case of a long queue).
func (g *memGovernance) allBlocked(l *Limits) bool {
	if l == nil {
		return false
	}
	covered := 0
	for c, cl := range l.Classes {
		n := g.queued["c|"+c]
		if n <= 0 {
			continue
		}
		if cl.MaxRunning <= 0 || g.run["c|"+c] < cl.MaxRunning {
			return false
		}
		covered += n
	}
	return covered >= g.queued["all"]
}

func (g *memGovernance) dispatch(l *Limits, o DispatchOptions) int {
	if g.allBlocked(l) {
		return 0
	}
	admitted := 0
	blocked := map[string]bool{}
	// The queue in admission order, taken from a heap one at a time: a
	// dispatch that stops after the first few entries does not sort them
	// all.
	h := &queueHeap{g: g, ids: make([]string, 0, len(g.queue))}
	for id := range g.queue {
		h.ids = append(h.ids, id)
	}
	heap.Init(h)
	for n := 0; h.Len() > 0 && n < o.scan(); n++ {
		id := heap.Pop(h).(string)
		e, ok := g.entries[id]
		if !ok {
			delete(g.queue, id)
			continue
		}
		if blocked[e.Class] {
			continue
		}
		cl, has := l.class(e.Class)
		why := g.room(l, cl, has, e.Class, e.User)
		if why != nil {
			if why.Scope == "class" {
				blocked[e.Class] = true
				if g.allBlocked(l) {
					break
				}
			}
			continue
		}
		k, ok := g.pick(l, e.Candidates)
		if !ok {
			continue
		}
		g.dequeue(id, e)
		if g.queued["c|"+e.Class] > 0 && e.Tag > g.vt["v|"+e.Class] {
			g.vt["v|"+e.Class] = e.Tag
		}
		g.newSlot(id, e.Class, e.User, k, o.Owner, o.SlotTTL.Milliseconds())
		e.State, e.Cluster = EntryAdmitted, k
		admitted++
		if g.allBlocked(l) {
			break
		}
	}
	return admitted
}

func (g *memGovernance) finish(id string, e *QueueEntry, err EntryError, keep int64) {
	switch e.State {
	case EntryQueued:
		g.dequeue(id, e)
	case EntryAdmitted, EntryClaimed:
		g.dropSlot(id)
	}
	e.State, e.Error = EntryFinished, &err
	delete(g.polled, id)
	g.forget[id] = g.ms + keep
	delete(g.payload, id)
}

func (g *memGovernance) Admit(_ context.Context, r AdmitRequest) (Admission, error) {
	defer g.lock()()
	g.sweep()
	cl, has := r.Limits.class(r.Class)
	if q := g.quota(cl, has, r.Class, r.User); q != nil {
		return Admission{Outcome: QuotaExceeded, Quota: q}, nil
	}
	k, ok := g.pick(r.Limits, r.Candidates)
	if !r.Force {
		if g.queued["c|"+r.Class] > 0 || (len(r.Candidates) > 0 && g.queued["all"] > 0) {
			return Admission{Outcome: MustQueue, Waiting: &LimitHit{Scope: "queue"}}, nil
		}
		if why := g.room(r.Limits, cl, has, r.Class, r.User); why != nil {
			return Admission{Outcome: MustQueue, Waiting: why}, nil
		}
		if !ok {
			return Admission{Outcome: MustQueue, Waiting: &LimitHit{Scope: "cluster", Limit: firstCap(r.Limits, r.Candidates)}}, nil
		}
	} else if !ok {
		k = r.Candidates[0]
	}
	g.newSlot(r.ID, r.Class, r.User, k, r.Owner, r.SlotTTL.Milliseconds())
	g.countRate(r.Class, r.User)
	return Admission{Outcome: Admitted, Cluster: k}, nil
}

func (g *memGovernance) Enqueue(_ context.Context, r EnqueueRequest) (Admission, error) {
	defer g.lock()()
	g.sweep()
	cl, has := r.Limits.class(r.Class)
	if q := g.quota(cl, has, r.Class, r.User); q != nil {
		return Admission{Outcome: QuotaExceeded, Quota: q}, nil
	}
	if has {
		if cl.MaxQueued > 0 && g.queued["c|"+r.Class] >= cl.MaxQueued {
			return Admission{Outcome: QueueFull, Full: &LimitHit{Scope: "class", Limit: cl.MaxQueued}}, nil
		}
		if cl.UserQueued > 0 && g.queued["u|"+r.Class+"|"+r.User] >= cl.UserQueued {
			return Admission{Outcome: QueueFull, Full: &LimitHit{Scope: "user", Limit: cl.UserQueued}}, nil
		}
	}
	if r.Limits != nil && r.Limits.MaxQueued > 0 && g.queued["all"] >= r.Limits.MaxQueued {
		return Admission{Outcome: QueueFull, Full: &LimitHit{Scope: "gateway", Limit: r.Limits.MaxQueued}}, nil
	}
	e := &QueueEntry{ID: r.ID, Class: r.Class, User: r.User, Priority: cl.Priority, Candidates: append([]string(nil), r.Candidates...),
		EnqueuedMs: g.ms, Slug: r.Slug}
	g.payload[r.ID] = append([]byte(nil), r.Payload...)
	g.queueEntry(r.ID, e)
	g.countRate(r.Class, r.User)
	g.dispatch(r.Limits, r.Dispatch)
	if e.State == EntryAdmitted {
		delete(g.entries, r.ID)
		delete(g.polled, r.ID)
		delete(g.payload, r.ID)
		if s, ok := g.slots[r.ID]; ok {
			s.Owner, s.ExpiresMs = r.Owner, g.ms+r.SlotTTL.Milliseconds()
		}
		return Admission{Outcome: Admitted, Cluster: e.Cluster}, nil
	}
	why := g.room(r.Limits, cl, has, r.Class, r.User)
	if _, ok := g.pick(r.Limits, e.Candidates); why == nil && !ok {
		why = &LimitHit{Scope: "cluster", Limit: firstCap(r.Limits, e.Candidates)}
	}
	if why == nil {
		why = &LimitHit{Scope: "queue"}
	}
	return Admission{Outcome: Queued, Position: g.position(r.ID), Waiting: why}, nil
}

func (g *memGovernance) position(id string) int {
	score, ok := g.queue[id]
	if !ok {
		return 0
	}
	pos := 1 // entries ahead of it in admission order (order's ties by ID)
	for x, sc := range g.queue {
		if sc < score || sc == score && x < id {
			pos++
		}
	}
	return pos
}

func (g *memGovernance) Poll(_ context.Context, id, slug string, _ *Limits) (QueuePoll, error) {
	defer g.lock()()
	e, ok := g.entries[id]
	if !ok || e.Slug != slug {
		return QueuePoll{}, ErrNotFound
	}
	switch e.State {
	case EntryQueued, EntryAdmitted, EntryClaimed:
		g.polled[id] = g.ms
	}
	p := QueuePoll{Entry: copyEntry(e)}
	if e.State == EntryQueued {
		p.Position = g.position(id)
		p.ClassRunning = g.run["c|"+e.Class]
		p.UserRunning = g.run["u|"+e.Class+"|"+e.User]
		for _, k := range e.Candidates {
			if p.Clusters == nil {
				p.Clusters = map[string]int{}
			}
			p.Clusters[k] = g.run["k|"+k]
		}
	}
	if e.State == EntrySubmitted {
		p.Answer = append([]byte(nil), g.answer[id]...)
	}
	return p, nil
}

func copyEntry(e *QueueEntry) QueueEntry {
	c := *e
	c.Candidates = append([]string(nil), e.Candidates...)
	if e.Error != nil {
		err := *e.Error
		c.Error = &err
	}
	return c
}

func (g *memGovernance) Claim(_ context.Context, id, owner string, claim, slotTTL time.Duration, l *Limits) (QueueClaim, error) {
	defer g.lock()()
	e, ok := g.entries[id]
	if !ok {
		return QueueClaim{}, ErrNotFound
	}
	if e.State == EntryAdmitted || (e.State == EntryClaimed && e.ClaimUntilMs < g.ms) {
		s, ok := g.slots[id]
		if !ok {
			g.queueEntry(id, e)
			g.dispatch(l, DispatchOptions{Owner: owner, SlotTTL: slotTTL})
			return QueueClaim{Entry: copyEntry(e)}, nil
		}
		e.State, e.Owner, e.ClaimUntilMs = EntryClaimed, owner, g.ms+claim.Milliseconds()
		e.Attempts++
		s.Owner, s.ExpiresMs = owner, g.ms+slotTTL.Milliseconds()
		return QueueClaim{Entry: copyEntry(e), Claimed: true, Payload: append([]byte(nil), g.payload[id]...)}, nil
	}
	return QueueClaim{Entry: copyEntry(e)}, nil
}

func (g *memGovernance) owned(id, owner string) (*QueueEntry, error) {
	e, ok := g.entries[id]
	if !ok {
		return nil, fmt.Errorf("queue entry %s: %w", id, ErrNotFound)
	}
	if e.State != EntryClaimed || e.Owner != owner {
		return nil, fmt.Errorf("queue entry %s: %w", id, ErrNotOwner)
	}
	return e, nil
}

func (g *memGovernance) Submitted(_ context.Context, id, owner string, b Binding, answer []byte, keep time.Duration) error {
	defer g.lock()()
	e, err := g.owned(id, owner)
	if err != nil {
		return err
	}
	g.bind(id, b)
	e.State, e.QueryID = EntrySubmitted, b.QueryID
	delete(g.polled, id)
	g.forget[id] = g.ms + keep.Milliseconds()
	g.answer[id] = append([]byte(nil), answer...)
	delete(g.payload, id)
	return nil
}

func (g *memGovernance) Requeue(_ context.Context, id, owner string, l *Limits, o DispatchOptions) error {
	defer g.lock()()
	e, err := g.owned(id, owner)
	if err != nil {
		return err
	}
	g.dropSlot(id)
	g.queueEntry(id, e)
	g.dispatch(l, o)
	return nil
}

func (g *memGovernance) Finish(_ context.Context, id string, ee EntryError, l *Limits, o DispatchOptions) (QueueEntry, error) {
	defer g.lock()()
	e, ok := g.entries[id]
	if !ok {
		return QueueEntry{}, ErrNotFound
	}
	was := copyEntry(e)
	if e.State == EntrySubmitted || e.State == EntryFinished {
		return was, nil
	}
	g.finish(id, e, ee, o.Keep.Milliseconds())
	g.dispatch(l, o)
	return was, nil
}

func (g *memGovernance) Bind(_ context.Context, slot string, b Binding) error {
	defer g.lock()()
	if _, ended := g.done[b.QueryID]; ended && b.QueryID != "" {
		// The query ended before its slot was tied to it.
		if g.dropSlot(slot) == nil {
			return fmt.Errorf("slot %s: %w", slot, ErrNotFound)
		}
		return nil
	}
	if !g.bind(slot, b) {
		return fmt.Errorf("slot %s: %w", slot, ErrNotFound)
	}
	return nil
}

func (g *memGovernance) Release(_ context.Context, slot string, l *Limits, o DispatchOptions) (bool, error) {
	defer g.lock()()
	if g.dropSlot(slot) == nil {
		return false, nil
	}
	g.dispatch(l, o)
	return true, nil
}

func (g *memGovernance) Complete(_ context.Context, c Completion, l *Limits, o DispatchOptions) (Completed, error) {
	defer g.lock()()
	out := Completed{Class: c.Class, User: c.User}
	d := 0
	for ; d < len(g.doneOrder) && g.doneOrder[d].ms <= g.ms-10*govMinute; d++ {
		delete(g.done, g.doneOrder[d].id)
	}
	g.doneOrder = g.doneOrder[d:]
	if _, seen := g.done[c.QueryID]; !seen {
		g.done[c.QueryID] = g.ms
		g.doneOrder = append(g.doneOrder, chargedAt{c.QueryID, g.ms})
	}
	if sid, ok := g.bySlot[c.QueryID]; ok {
		if s := g.dropSlot(sid); s != nil {
			out.Released, out.Class, out.User = true, s.Class, s.User
		}
	}
	n := 0
	for ; n < len(g.chargedOrder) && g.chargedOrder[n].ms <= g.ms-2*govHour; n++ {
		delete(g.charged, g.chargedOrder[n].id)
	}
	g.chargedOrder = g.chargedOrder[n:]
	if _, done := g.charged[c.QueryID]; out.Class != "" && !done {
		g.charged[c.QueryID] = g.ms
		g.chargedOrder = append(g.chargedOrder, chargedAt{c.QueryID, g.ms})
		for _, sc := range []string{"c|" + out.Class, "u|" + out.Class + "|" + out.User} {
			g.charge("cpu", govHour, sc, c.CPUSeconds)
			g.charge("bytes", govHour, sc, c.Bytes)
		}
		out.Charged = true
	}
	if out.Released {
		g.dispatch(l, o)
	}
	return out, nil
}

func (g *memGovernance) Renew(_ context.Context, owner string, slots []string, ttl time.Duration) ([]string, error) {
	defer g.lock()()
	var lost []string
	for _, id := range slots {
		if s, ok := g.slots[id]; ok && s.Owner == owner {
			s.ExpiresMs = g.ms + ttl.Milliseconds()
		} else {
			lost = append(lost, id)
		}
	}
	return lost, nil
}

func (g *memGovernance) Adopt(_ context.Context, owner string, slots []string, ttl time.Duration) error {
	defer g.lock()()
	for _, id := range slots {
		if s, ok := g.slots[id]; ok {
			s.Owner, s.ExpiresMs = owner, g.ms+ttl.Milliseconds()
		}
	}
	return nil
}

func (g *memGovernance) Tick(_ context.Context, l *Limits, o DispatchOptions) (TickResult, error) {
	defer g.lock()()
	r := TickResult{Expired: g.sweep()}
	if ct := o.ClientTimeout.Milliseconds(); ct > 0 {
		for id, at := range g.polled {
			if at > g.ms-ct {
				continue
			}
			delete(g.polled, id)
			if e, ok := g.entries[id]; ok && (e.State == EntryQueued || e.State == EntryAdmitted || e.State == EntryClaimed) {
				g.finish(id, e, EntryError{Name: "ABANDONED_QUERY", Message: AbandonedMessage(o.ClientTimeout)}, o.Keep.Milliseconds())
				r.Abandoned++
			}
		}
	}
	for id, at := range g.forget {
		if at <= g.ms {
			delete(g.forget, id)
			delete(g.entries, id)
			delete(g.answer, id)
			delete(g.payload, id)
		}
	}
	r.Admitted = g.dispatch(l, o)
	return r, nil
}

func (g *memGovernance) Snapshot(context.Context) (GovernanceSnapshot, error) {
	defer g.lock()()
	var slots []Slot
	for _, s := range g.slots {
		slots = append(slots, s.Slot)
	}
	counts := make(map[string]int, len(g.run))
	for k, v := range g.run {
		counts[k] = v
	}
	entries := make(map[string]QueueEntry, len(g.entries))
	for id, e := range g.entries {
		entries[id] = copyEntry(e)
	}
	usage := make(map[string]float64, len(g.usage))
	for k, v := range g.usage {
		usage[k] = v
	}
	return buildSnapshot(time.UnixMilli(g.ms), slots, counts, g.order(), entries, usage), nil
}

func (g *memGovernance) AdjustUsage(_ context.Context, a UsageAdjustment) error {
	defer g.lock()()
	scope := "c|" + a.Class
	if a.User != "" {
		scope = "u|" + a.Class + "|" + a.User
	}
	for _, k := range usageKinds {
		if a.Kind != "" && a.Kind != k.kind {
			continue
		}
		len := k.window.Milliseconds()
		if a.Reset {
			w, _ := g.window(len)
			delete(g.usage, k.kind+"|"+w+"|"+scope)
			continue
		}
		g.charge(k.kind, len, scope, a.Delta)
	}
	return nil
}

func sortEntries(es []QueueEntry) {
	sort.Slice(es, func(i, j int) bool {
		if es[i].EnqueuedMs != es[j].EnqueuedMs {
			return es[i].EnqueuedMs < es[j].EnqueuedMs
		}
		return es[i].ID < es[j].ID
	})
}

func sortSlots(ss []Slot) {
	sort.Slice(ss, func(i, j int) bool {
		if ss[i].AcquiredMs != ss[j].AcquiredMs {
			return ss[i].AcquiredMs < ss[j].AcquiredMs
		}
		return strings.Compare(ss[i].ID, ss[j].ID) < 0
	})
}

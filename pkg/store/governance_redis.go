package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisGovernance is Governance on Redis: one Lua script per operation
// (governance_lua.go) over keys that share one hash tag.
type redisGovernance struct {
	c    redis.UniversalClient
	keys []string
	now  func() time.Time
}

func newRedisGovernance(c redis.UniversalClient, k keys, now func() time.Time) *redisGovernance {
	g := &redisGovernance{c: c, now: now}
	for _, n := range govKeyNames {
		g.keys = append(g.keys, k.prefix+"gov:{w}:"+n)
	}
	return g
}

var (
	scriptAdmit     = redis.NewScript(govScript(govAdmit))
	scriptEnqueue   = redis.NewScript(govScript(govEnqueue))
	scriptPoll      = redis.NewScript(govScript(govPoll))
	scriptClaim     = redis.NewScript(govScript(govClaim))
	scriptSubmitted = redis.NewScript(govScript(govSubmitted))
	scriptRequeue   = redis.NewScript(govScript(govRequeue))
	scriptFinish    = redis.NewScript(govScript(govFinish))
	scriptBind      = redis.NewScript(govScript(govBind))
	scriptRelease   = redis.NewScript(govScript(govRelease))
	scriptComplete  = redis.NewScript(govScript(govComplete))
	scriptRenew     = redis.NewScript(govScript(govRenew))
	scriptAdopt     = redis.NewScript(govScript(govAdopt))
	scriptTick      = redis.NewScript(govScript(govTick))
	scriptSnapshot  = redis.NewScript(govScript(govSnapshot))
	scriptAdjust    = redis.NewScript(govScript(govAdjust))
)

func (g *redisGovernance) ms() int64 { return g.now().UnixMilli() }

// run runs a script with the time and args, and returns its reply.
func (g *redisGovernance) run(ctx context.Context, s *redis.Script, what string, args ...any) (any, error) {
	v, err := s.Run(ctx, g.c, g.keys, append([]any{g.ms()}, args...)...).Result()
	if err != nil {
		return nil, fmt.Errorf("redis: governance %s: %w", what, err)
	}
	return v, nil
}

// runJSON runs a script whose reply is a JSON document and decodes it.
func (g *redisGovernance) runJSON(ctx context.Context, s *redis.Script, what string, out any, args ...any) error {
	v, err := g.run(ctx, s, what, args...)
	if err != nil {
		return err
	}
	str, ok := v.(string)
	if !ok {
		return fmt.Errorf("redis: governance %s: unexpected reply %T", what, v)
	}
	if err := json.Unmarshal([]byte(str), out); err != nil {
		return fmt.Errorf("redis: governance %s: decoding %.200q: %w", what, str, err)
	}
	return nil
}

type admitArgs struct {
	ID    string   `json:"id"`
	Class string   `json:"c"`
	User  string   `json:"u"`
	Cands []string `json:"k"`
	Owner string   `json:"o"`
	TTL   int64    `json:"ttl"`
	Force bool     `json:"force,omitempty"`
	Slug  string   `json:"slug,omitempty"`
}

func toAdmitArgs(r AdmitRequest) admitArgs {
	c := r.Candidates
	if c == nil {
		c = []string{}
	}
	return admitArgs{ID: r.ID, Class: r.Class, User: r.User, Cands: c, Owner: r.Owner, TTL: r.SlotTTL.Milliseconds(), Force: r.Force}
}

type dispatchArgs struct {
	Owner    string `json:"o"`
	TTL      int64  `json:"ttl"`
	Scan     int    `json:"scan"`
	Timeout  int64  `json:"ct"`
	Keep     int64  `json:"keep"`
	Abandons string `json:"am"`
}

func toDispatchArgs(o DispatchOptions) string {
	b, _ := json.Marshal(dispatchArgs{Owner: o.Owner, TTL: o.SlotTTL.Milliseconds(), Scan: o.scan(),
		Timeout: o.ClientTimeout.Milliseconds(), Keep: o.Keep.Milliseconds(), Abandons: AbandonedMessage(o.ClientTimeout)})
	return string(b)
}

// AbandonedMessage is what the client of an entry dropped for not polling
// reads, should it come back.
func AbandonedMessage(timeout time.Duration) string {
	return fmt.Sprintf("the query waited in the gateway's queue but no client asked for it for %v (Trino's client timeout), so it was dropped", timeout)
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil { // only plain values
		panic(err)
	}
	return string(b)
}

func (a *Admission) finish() {
	if a.Quota != nil {
		a.Quota.Resets = time.UnixMilli(a.Quota.ResetsMs)
	}
}

func (g *redisGovernance) Admit(ctx context.Context, r AdmitRequest) (Admission, error) {
	var a Admission
	err := g.runJSON(ctx, scriptAdmit, "admit", &a, r.Limits.json(), mustJSON(toAdmitArgs(r)))
	a.finish()
	return a, err
}

func (g *redisGovernance) Enqueue(ctx context.Context, r EnqueueRequest) (Admission, error) {
	args := toAdmitArgs(r.AdmitRequest)
	args.Slug = r.Slug
	var a Admission
	err := g.runJSON(ctx, scriptEnqueue, "enqueue", &a, r.Limits.json(), mustJSON(args), r.Payload, toDispatchArgs(r.Dispatch))
	a.finish()
	return a, err
}

type pollReply struct {
	None bool `json:"none"`
	QueuePoll
	Answer string `json:"answer"`
}

func (g *redisGovernance) Poll(ctx context.Context, id, slug string, _ *Limits) (QueuePoll, error) {
	var r pollReply
	if err := g.runJSON(ctx, scriptPoll, "poll", &r, id, slug); err != nil {
		return QueuePoll{}, err
	}
	if r.None {
		return QueuePoll{}, ErrNotFound
	}
	p := r.QueuePoll
	p.Entry.ID = id
	if r.Answer != "" {
		p.Answer = []byte(r.Answer)
	}
	return p, nil
}

type claimReply struct {
	None    bool       `json:"none"`
	Entry   QueueEntry `json:"e"`
	Claimed bool       `json:"claimed"`
	Payload string     `json:"payload"`
}

func (g *redisGovernance) Claim(ctx context.Context, id, owner string, claim, slotTTL time.Duration, l *Limits) (QueueClaim, error) {
	var r claimReply
	d := toDispatchArgs(DispatchOptions{Owner: owner, SlotTTL: slotTTL})
	if err := g.runJSON(ctx, scriptClaim, "claim", &r, id, owner, claim.Milliseconds(), slotTTL.Milliseconds(), l.json(), d); err != nil {
		return QueueClaim{}, err
	}
	if r.None {
		return QueueClaim{}, ErrNotFound
	}
	r.Entry.ID = id
	return QueueClaim{Entry: r.Entry, Claimed: r.Claimed, Payload: []byte(r.Payload)}, nil
}

// ownerReply maps a script's "ok" / "gone" / "owner" reply to an error.
func ownerReply(v any, id string) error {
	switch v {
	case "ok":
		return nil
	case "gone":
		return fmt.Errorf("queue entry %s: %w", id, ErrNotFound)
	case "owner":
		return fmt.Errorf("queue entry %s: %w", id, ErrNotOwner)
	}
	return fmt.Errorf("queue entry %s: unexpected reply %v", id, v)
}

func (g *redisGovernance) Submitted(ctx context.Context, id, owner string, b Binding, answer []byte, keep time.Duration) error {
	v, err := g.run(ctx, scriptSubmitted, "submitted", id, owner, mustJSON(b), answer, keep.Milliseconds())
	if err != nil {
		return err
	}
	return ownerReply(v, id)
}

func (g *redisGovernance) Requeue(ctx context.Context, id, owner string, l *Limits, o DispatchOptions) error {
	v, err := g.run(ctx, scriptRequeue, "requeue", id, owner, l.json(), toDispatchArgs(o))
	if err != nil {
		return err
	}
	return ownerReply(v, id)
}

func (g *redisGovernance) Finish(ctx context.Context, id string, e EntryError, l *Limits, o DispatchOptions) (QueueEntry, error) {
	var r claimReply
	if err := g.runJSON(ctx, scriptFinish, "finish", &r, id, mustJSON(e), l.json(), toDispatchArgs(o)); err != nil {
		return QueueEntry{}, err
	}
	if r.None {
		return QueueEntry{}, ErrNotFound
	}
	r.Entry.ID = id
	return r.Entry, nil
}

func (g *redisGovernance) Bind(ctx context.Context, slot string, b Binding) error {
	v, err := g.run(ctx, scriptBind, "bind", slot, mustJSON(b))
	if err != nil {
		return err
	}
	if v != int64(1) && v != int64(2) { // 2: released, its query had ended
		return fmt.Errorf("slot %s: %w", slot, ErrNotFound)
	}
	return nil
}

func (g *redisGovernance) Release(ctx context.Context, slot string, l *Limits, o DispatchOptions) (bool, error) {
	v, err := g.run(ctx, scriptRelease, "release", slot, l.json(), toDispatchArgs(o))
	return v == int64(1), err
}

func (g *redisGovernance) Complete(ctx context.Context, c Completion, l *Limits, o DispatchOptions) (Completed, error) {
	var out Completed
	args := map[string]any{"q": c.QueryID, "c": c.Class, "u": c.User, "cpu": c.CPUSeconds, "b": c.Bytes}
	err := g.runJSON(ctx, scriptComplete, "complete", &out, mustJSON(args), l.json(), toDispatchArgs(o))
	return out, err
}

func slotArgs(owner string, ttl time.Duration, slots []string) []any {
	args := []any{owner, ttl.Milliseconds()}
	for _, s := range slots {
		args = append(args, s)
	}
	return args
}

func (g *redisGovernance) Renew(ctx context.Context, owner string, slots []string, ttl time.Duration) ([]string, error) {
	if len(slots) == 0 {
		return nil, nil
	}
	v, err := g.run(ctx, scriptRenew, "renew", slotArgs(owner, ttl, slots)...)
	if err != nil {
		return nil, err
	}
	return stringList(v), nil
}

func (g *redisGovernance) Adopt(ctx context.Context, owner string, slots []string, ttl time.Duration) error {
	if len(slots) == 0 {
		return nil
	}
	_, err := g.run(ctx, scriptAdopt, "adopt", slotArgs(owner, ttl, slots)...)
	return err
}

func (g *redisGovernance) Tick(ctx context.Context, l *Limits, o DispatchOptions) (TickResult, error) {
	var r TickResult
	err := g.runJSON(ctx, scriptTick, "tick", &r, l.json(), toDispatchArgs(o))
	return r, err
}

func (g *redisGovernance) AdjustUsage(ctx context.Context, a UsageAdjustment) error {
	args := map[string]any{"c": a.Class, "u": a.User, "kind": a.Kind, "d": a.Delta, "reset": a.Reset}
	_, err := g.run(ctx, scriptAdjust, "adjust", mustJSON(args))
	return err
}

func (g *redisGovernance) Snapshot(ctx context.Context) (GovernanceSnapshot, error) {
	now := g.now()
	v, err := g.run(ctx, scriptSnapshot, "snapshot")
	if err != nil {
		return GovernanceSnapshot{}, err
	}
	parts, ok := v.([]any)
	if !ok || len(parts) != 6 {
		return GovernanceSnapshot{}, errors.New("redis: governance snapshot: unexpected reply")
	}
	slots, exp, run, order, entries, use := pairs(parts[0]), pairs(parts[1]), pairs(parts[2]), stringList(parts[3]), pairs(parts[4]), pairs(parts[5])
	var slotList []Slot
	for id, raw := range slots {
		var s Slot
		if err := json.Unmarshal([]byte(raw), &s); err != nil {
			return GovernanceSnapshot{}, fmt.Errorf("redis: governance snapshot: slot %s: %w", id, err)
		}
		s.ID = id
		if e, err := strconv.ParseFloat(exp[id], 64); err == nil {
			s.ExpiresMs = int64(e)
		}
		slotList = append(slotList, s)
	}
	counts := map[string]int{}
	for k, v := range run {
		n, _ := strconv.Atoi(v)
		counts[k] = n
	}
	usage := map[string]float64{}
	for k, v := range use {
		f, _ := strconv.ParseFloat(v, 64)
		usage[k] = f
	}
	es := map[string]QueueEntry{}
	for id, raw := range entries {
		var e QueueEntry
		if err := json.Unmarshal([]byte(raw), &e); err != nil {
			return GovernanceSnapshot{}, fmt.Errorf("redis: governance snapshot: entry %s: %w", id, err)
		}
		e.ID = id
		es[id] = e
	}
	return buildSnapshot(now, slotList, counts, order, es, usage), nil
}

// pairs reads a flat [k1 v1 k2 v2 ...] reply into a map.
func pairs(v any) map[string]string {
	l := stringList(v)
	m := make(map[string]string, len(l)/2)
	for i := 0; i+1 < len(l); i += 2 {
		m[l[i]] = l[i+1]
	}
	return m
}

func stringList(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, x := range l {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// buildSnapshot turns the raw state into a snapshot: counters split by
// kind, usage of the current windows only, the queue in order.
func buildSnapshot(now time.Time, slots []Slot, counts map[string]int, order []string, entries map[string]QueueEntry, usage map[string]float64) GovernanceSnapshot {
	s := GovernanceSnapshot{Slots: slots, Now: now, RunningByClass: map[string]int{}, RunningByUser: map[string]int{},
		RunningByCluster: map[string]int{}, Usage: map[string]float64{}}
	for k, n := range counts {
		switch kind, rest, _ := strings.Cut(k, "|"); kind {
		case "c":
			s.RunningByClass[rest] = n
		case "u":
			s.RunningByUser[rest] = n
		case "k":
			s.RunningByCluster[rest] = n
		}
	}
	ms := now.UnixMilli()
	for f, v := range usage {
		// kind|window|c|class or kind|window|u|class|user
		parts := strings.SplitN(f, "|", 4)
		if len(parts) != 4 {
			continue
		}
		w, err := strconv.ParseInt(parts[1], 10, 64)
		if err != nil || w != ms/windowOf(parts[0]).Milliseconds() {
			continue
		}
		s.Usage[parts[0]+"|"+parts[3]] = v
	}
	seen := map[string]bool{}
	for _, id := range order {
		if e, ok := entries[id]; ok {
			s.Queue = append(s.Queue, e)
			seen[id] = true
		}
	}
	var rest []QueueEntry
	for id, e := range entries {
		if !seen[id] {
			rest = append(rest, e)
		}
	}
	sortEntries(rest)
	s.Queue = append(s.Queue, rest...)
	sortSlots(s.Slots)
	return s
}

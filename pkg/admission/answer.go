package admission

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/policy"
	"github.com/switchyard-gw/switchyard/pkg/routing"
)

// FollowUp is what a routed submission leaves to do once its coordinator
// answers: record the query's owner, pin the client session, tie the
// running slot to the query, keep the statement for resubmission. The
// decision hands it to Envoy in a request header (the ticket); Envoy's
// answer observer brings it back, with the request as the coordinator got
// it and the coordinator's answer, to whichever replica its stream
// reaches, without the client waiting. It is self-contained for that
// reason: nothing of the deciding replica's memory is needed, except the
// decision log entry, which is linked to its query only when the same
// replica observes the answer.
type FollowUp struct {
	// ID is the submission's decision ID (the request's).
	ID string `json:"id"`
	// Group and Cluster are where the decision sent it.
	Group   string `json:"g"`
	Cluster string `json:"c,omitempty"`
	// User is the user the decision verified.
	User string `json:"u,omitempty"`
	// Slot is the running slot it holds ("": none).
	Slot string `json:"s,omitempty"`
	// Type is the statement's type when classified (for resubmission).
	Type string `json:"t,omitempty"`
	// Session is the statement's client session, with session affinity.
	Session *TicketSession `json:"cs,omitempty"`
}

// maxTicketBytes bounds a ticket (Envoy's header limit is far larger).
const maxTicketBytes = 8 << 10

// Encode is the ticket: the follow-up as a header value.
func (f FollowUp) Encode() (string, error) {
	b, err := json.Marshal(f)
	if err != nil {
		return "", fmt.Errorf("encoding the follow-up of %s: %w", f.ID, err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// DecodeFollowUp reads a ticket.
func DecodeFollowUp(ticket string) (FollowUp, error) {
	var f FollowUp
	if len(ticket) > maxTicketBytes {
		return f, fmt.Errorf("ticket of %d bytes is over the limit of %d", len(ticket), maxTicketBytes)
	}
	b, err := base64.RawURLEncoding.DecodeString(ticket)
	if err != nil {
		return f, fmt.Errorf("ticket is not base64url: %w", err)
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return FollowUp{}, fmt.Errorf("ticket is not a follow-up: %w", err)
	}
	if f.ID == "" || f.Group == "" {
		return FollowUp{}, errors.New("ticket has no decision ID or group")
	}
	return f, nil
}

// FollowUp is the ticket of a routed submission (false for one that was
// not routed, or only decided), and remembers its decision log entry so
// that this replica links it to the query if it observes the answer.
func (p *Pipeline) FollowUp(s *Submission) (FollowUp, bool) {
	if s == nil || s.Req == nil || s.Decision.Group == "" || s.Dry {
		return FollowUp{}, false
	}
	f := FollowUp{ID: s.Req.ID(), Group: s.Decision.Group, Cluster: s.Decision.Cluster, User: s.Req.Session.User, Type: s.Class.Type}
	if s.Workload != nil {
		f.Slot = s.Workload.Slot
	}
	if cs := s.Session; cs != nil {
		f.Session = &TicketSession{ID: cs.Identity.ID, Source: string(cs.Identity.Source), Pins: cs.Pins, Found: int(cs.Found),
			Group: cs.Group, Kept: cs.Kept, Left: cs.Left}
	}
	if p.o.Decisions != nil && s.Entry != nil {
		p.entries.put(f.ID, s.Entry)
	}
	return f, true
}

// Observed does a routed submission's follow-up once its coordinator
// answered: req is the request as the coordinator got it (its SQL text
// in Body when resubmission may need it), answer the first QueryResults.
func (p *Pipeline) Observed(ctx context.Context, f FollowUp, req *Request, answer []byte) {
	p.Submitted(ctx, p.restore(f, req), answer)
}

// maxFollowUps bounds the follow-ups one replica runs at once in the
// background. Past it, ObservedLater waits for one to end: the observer's
// stream then stays open, which is the backpressure (the follow-ups'
// store writes are what falls behind, not the decisions).
const maxFollowUps = 256

// ObservedLater does Observed in the background, so the answer observer's
// stream closes as soon as the answer is through. A stream held open for
// the follow-up's store writes counts against Envoy's circuit breaker of
// the control plane's cluster while they run: at saturation the
// follow-ups fell behind, thousands of streams stayed open and new
// decisions were refused (the submission failed open, GATEWAY_UNAVAILABLE).
// It returns once the follow-up has started; Wait waits for it to end.
// ctx must not end with the stream (the observer passes one that does
// not).
func (p *Pipeline) ObservedLater(ctx context.Context, f FollowUp, req *Request, answer []byte) {
	p.followUps <- struct{}{}
	p.o.Metrics.FollowUps.Inc()
	p.background.Add(1)
	go func() {
		defer func() {
			p.o.Metrics.FollowUps.Dec()
			<-p.followUps
			p.background.Done()
		}()
		p.Observed(ctx, f, req, answer)
	}()
}

// Unanswered ends a routed submission whose coordinator never answered
// (the stream ended without an answer: the coordinator failed, the client
// went away): its slot is freed.
func (p *Pipeline) Unanswered(ctx context.Context, f FollowUp, req *Request) {
	p.entries.take(f.ID)
	s := p.restore(f, req)
	p.o.Metrics.Answers.WithLabelValues("unanswered").Inc()
	p.log(s.Req).Warn("submission ended without its coordinator's answer", "cluster", f.Cluster, "slot", f.Slot)
	p.Abandoned(ctx, s)
}

// restore rebuilds the submission a follow-up is about.
func (p *Pipeline) restore(f FollowUp, req *Request) *Submission {
	req.id = f.ID
	if f.User != "" {
		req.Session.User = f.User
	}
	s := &Submission{Req: req, Decision: routing.Decision{Group: f.Group, Cluster: f.Cluster}, Entry: p.entries.take(f.ID)}
	s.Class.Type = f.Type
	// A slot is kept only where there is governance to bind or free it
	// (a ticket of a replica configured otherwise leaves the slot to
	// its lease).
	if f.Slot != "" && p.o.Governor != nil {
		s.Workload = &Workload{Slot: f.Slot}
	}
	if f.Session != nil {
		s.Session = f.Session.clientSession(req.Session.User)
	}
	return s
}

// entryKeep is how long a decision log entry waits for its answer to be
// observed here (an answer observed by another replica never comes).
const (
	entryKeep    = time.Minute
	entriesLimit = 1 << 16
)

// pendingEntries are the decision log entries of routed submissions whose
// answers this replica has not observed yet, by decision ID.
type pendingEntries struct {
	mu    sync.Mutex
	byID  map[string]pendingEntry
	swept time.Time
}

type pendingEntry struct {
	e     *policy.LogEntry
	added time.Time
}

func (pe *pendingEntries) put(id string, e *policy.LogEntry) {
	now := time.Now()
	pe.mu.Lock()
	defer pe.mu.Unlock()
	if pe.byID == nil {
		pe.byID = map[string]pendingEntry{}
	}
	if now.Sub(pe.swept) > entryKeep/4 || len(pe.byID) >= entriesLimit {
		for k, v := range pe.byID {
			if now.Sub(v.added) > entryKeep {
				delete(pe.byID, k)
			}
		}
		pe.swept = now
	}
	if len(pe.byID) < entriesLimit {
		pe.byID[id] = pendingEntry{e: e, added: now}
	}
}

func (pe *pendingEntries) take(id string) *policy.LogEntry {
	pe.mu.Lock()
	defer pe.mu.Unlock()
	v, ok := pe.byID[id]
	if !ok {
		return nil
	}
	delete(pe.byID, id)
	return v.e
}

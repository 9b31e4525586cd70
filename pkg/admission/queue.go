package admission

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/routing"
	"github.com/switchyard-gw/switchyard/pkg/sessions"
	"github.com/switchyard-gw/switchyard/pkg/store"
)

// Ticket is a queued submission: everything the queue service needs to
// submit it once it is admitted, on any replica. It travels through the
// shared store as JSON.
type Ticket struct {
	// ID is the submission's decision ID: its query ID while it waits.
	ID  string `json:"id"`
	SQL string `json:"sql"`
	// Headers are the X-Trino-* headers the coordinator gets: the
	// client's, then those the gateway set (policy, session caps, the
	// class's client tag), without the gateway's session entry.
	Headers []store.Header `json:"headers"`
	// Route is what routing is asked for when the entry was admitted with
	// no capped cluster chosen.
	Route routing.Request `json:"route"`
	// Transaction pins a statement of an open transaction to Route.Cluster
	// and, when set, Coordinator.
	Transaction bool   `json:"transaction,omitempty"`
	Coordinator string `json:"coordinator,omitempty"`
	// Scheme and Authority are the gateway's address as the client used
	// it; ForwardedFor is the X-Forwarded-For Envoy passed.
	Scheme       string `json:"scheme"`
	Authority    string `json:"authority"`
	ForwardedFor string `json:"forwardedFor,omitempty"`
	User         string `json:"user"`
	Class        string `json:"class,omitempty"`
	// Session is the statement's client session, pinned once it runs.
	Session *TicketSession `json:"session,omitempty"`
	// Type is the statement's type when classified (for resubmission).
	Type     string    `json:"type,omitempty"`
	Enqueued time.Time `json:"enqueued"`
}

// TicketSession is a queued statement's client session.
type TicketSession struct {
	ID     string            `json:"id"`
	Source string            `json:"source"`
	Pins   map[string]string `json:"pins,omitempty"`
	Found  int               `json:"found"`
	Group  string            `json:"group,omitempty"`
	Kept   bool              `json:"kept,omitempty"`
	Left   string            `json:"left,omitempty"`
}

// clientSession is the session as the pipeline holds it.
func (ts *TicketSession) clientSession(user string) *ClientSession {
	return &ClientSession{Identity: sessions.Restore(user, sessions.Source(ts.Source), ts.ID), Pins: ts.Pins,
		Found: sessions.Found(ts.Found), Group: ts.Group, Kept: ts.Kept, Left: ts.Left}
}

// Encode is the ticket as the store keeps it.
func (t *Ticket) Encode() ([]byte, error) {
	b, err := json.Marshal(t)
	if err != nil {
		return nil, fmt.Errorf("encoding queued submission %s: %w", t.ID, err)
	}
	return b, nil
}

// DecodeTicket reads a ticket the store kept.
func DecodeTicket(b []byte) (*Ticket, error) {
	var t Ticket
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("decoding a queued submission: %w", err)
	}
	if t.ID == "" {
		return nil, fmt.Errorf("decoding a queued submission: it has no ID")
	}
	return &t, nil
}

// ForwardedHeaders are the headers a coordinator needs besides the
// statement's own to build URIs that lead back through the gateway.
func (t *Ticket) ForwardedHeaders() []store.Header {
	scheme := t.Scheme
	if scheme == "" {
		scheme = "http"
	}
	out := []store.Header{{Name: "x-forwarded-proto", Value: scheme}}
	if t.ForwardedFor != "" {
		out = append(out, store.Header{Name: "x-forwarded-for", Value: t.ForwardedFor})
	}
	return out
}

// ticket is the queued form of s.
func (p *Pipeline) ticket(s *Submission) *Ticket {
	req := s.Req
	t := &Ticket{ID: req.ID(), SQL: s.SQL(), Headers: upstreamHeaderList(s), Route: s.Route, Transaction: s.Transaction,
		Coordinator: s.Coordinator, Scheme: req.Scheme, Authority: req.Authority, ForwardedFor: req.Session.RemoteAddress,
		User: req.Session.User, Type: s.Class.Type, Enqueued: time.Now()}
	if s.Workload != nil {
		t.Class = s.Workload.Class
	}
	if cs := s.Session; cs != nil {
		t.Session = &TicketSession{ID: cs.Identity.ID, Source: string(cs.Identity.Source), Pins: cs.Pins, Found: int(cs.Found),
			Group: cs.Group, Kept: cs.Kept, Left: cs.Left}
	}
	return t
}

// upstreamHeaderList is what the coordinator got: the client's X-Trino-*
// headers, then the ones the gateway set (which replace the client's of
// the same name).
func upstreamHeaderList(s *Submission) []store.Header {
	set := make([]string, 0, len(s.Headers))
	for n := range s.Headers {
		if allowedPolicyHeader(n) {
			set = append(set, n)
		}
	}
	sort.Strings(set)
	headers := make([]store.Header, 0, len(s.Req.Session.Sent)+len(set))
	for _, h := range s.Req.Session.Sent {
		if !slices.ContainsFunc(set, func(n string) bool { return strings.EqualFold(n, h.Name) }) {
			headers = append(headers, h)
		}
	}
	for _, n := range set {
		headers = append(headers, store.Header{Name: strings.ToLower(n), Value: s.Headers[n]})
	}
	return headers
}

// QueuedSubmitted records a queued submission that the queue service
// submitted (the coordinator's first answer in body), as Submitted does
// for a direct one: the query's owner, the client session's pin, how to
// run it again. The slot is the queue entry's, tied to the query by the
// store already.
func (p *Pipeline) QueuedSubmitted(ctx context.Context, t *Ticket, group string, body []byte) {
	req := &Request{Method: "POST", Path: "/v1/statement", Scheme: t.Scheme, Authority: t.Authority, Body: []byte(t.SQL), id: t.ID}
	for _, h := range t.Headers {
		req.Session.SetHeader(h.Name, h.Value)
	}
	s := &Submission{Req: req, Decision: routing.Decision{Group: group}, Entry: nil, Transaction: t.Transaction}
	s.Class.Type = t.Type
	if ts := t.Session; ts != nil {
		s.Session = ts.clientSession(t.User)
	}
	p.Submitted(ctx, s, body)
}

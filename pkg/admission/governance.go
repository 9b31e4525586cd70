package admission

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/governance"
	"github.com/switchyard-gw/switchyard/pkg/routing"
	"github.com/switchyard-gw/switchyard/pkg/store"
	"github.com/switchyard-gw/switchyard/pkg/trino"
	"github.com/switchyard-gw/switchyard/pkg/workload"
)

// Workload is what workload governance did with a submission.
type Workload struct {
	// Class is the workload class ("" when the query has none but a
	// cluster cap counted it).
	Class string
	// Slot is the running slot the submission holds ("" when nothing was
	// counted: an ungoverned class, a store failing open, a dry run).
	Slot string
	// Capped: the slot is on a capped cluster the store chose.
	Capped bool
	bound  bool   // the slot is tied to its query
	slug   string // the secret of its queue URIs, when queued
}

// governanceStage applies workload governance after the policy and the
// pins (transaction, client session) and before balancing: the class the
// policy chose gets its session caps and client tag onto the submission,
// and a running slot within the fleet-wide limits (class, user, cluster
// caps), or a place in the gateway's queue (the client gets a QUEUED
// answer and waits there), or a refusal that says which limit or quota.
// Prefixed polls never reach the pipeline, so they never pay for it.
type governanceStage struct{ p *Pipeline }

func (governanceStage) Name() string { return "governance" }

func (st governanceStage) Admit(ctx context.Context, s *Submission) (Outcome, bool) {
	gov := st.p.o.Governor
	if gov == nil || s.policy == nil || s.policy.Governance == nil {
		return Outcome{}, false
	}
	cfg := s.policy.Governance
	cl, err := cfg.Class(s.workloadClass)
	if err != nil {
		return reject(trino.ErrPolicyError, err.Error(), ""), true
	}
	w := &Workload{}
	s.Workload = w
	if cl != nil {
		w.Class = cl.Name
		s.Entry.Class = cl.Name
		if o, done := st.shape(s, cl); done {
			return o, true
		}
	}
	cands, err := st.candidates(s, cfg)
	if err != nil {
		return routingError(err), true
	}
	_, throttled := gov.Throttled(s.Req.Session.User)
	if (cl == nil || !cl.Governed()) && cands == nil && !throttled {
		return Outcome{}, false // nothing to count
	}
	if s.Dry {
		s.Entry.Explanation = append(s.Entry.Explanation, "workload class "+orNone(w.Class)+": its limits apply (not checked in a dry run)")
		return Outcome{}, false
	}
	req := store.AdmitRequest{ID: s.Req.ID(), Class: w.Class, User: s.Req.Session.User, Candidates: cands, Force: s.Transaction}
	a, err := gov.Admit(ctx, req)
	if err == nil && a.Outcome == store.MustQueue {
		a, err = st.enqueue(ctx, s, req)
	}
	m := gov.Metrics()
	if err != nil {
		m.Rejected.WithLabelValues(classLabel(w.Class), "store").Inc()
		if cl != nil && cl.FailClosed() {
			st.p.o.Degraded.Fail("governance", "workload governance cannot reach the shared store; classes with onStoreFailure: closed refuse their queries", "error", err)
			return reject(trino.ErrGatewayUnavailable, "workload class "+cl.Name+" cannot be admitted: the gateway's shared store does not answer, and the class refuses queries it cannot count (onStoreFailure: closed); try again", ""), true
		}
		st.p.o.Degraded.Fail("governance", "workload governance cannot reach the shared store; queries run without being counted (onStoreFailure: open)", "error", err)
		s.Entry.Explanation = append(s.Entry.Explanation, "workload class "+orNone(w.Class)+": not counted (the shared store failed)")
		return Outcome{}, false
	}
	st.p.o.Degraded.Recover("governance", "workload governance reaches the shared store again")
	switch a.Outcome {
	case store.Admitted:
		w.Slot = req.ID
		m.Admitted.WithLabelValues(classLabel(w.Class), "direct").Inc()
		if a.Cluster != "" && !s.Transaction {
			w.Capped = true
			s.Route.Cluster, s.Route.PinFrom = a.Cluster, "workload governance (cluster caps)"
		}
		s.Entry.Explanation = append(s.Entry.Explanation, "workload class "+orNone(w.Class)+": admitted")
		return Outcome{}, false
	case store.Queued:
		m.Queued.WithLabelValues(classLabel(w.Class)).Inc()
		return st.queued(s, a), true
	case store.QuotaExceeded:
		m.Rejected.WithLabelValues(classLabel(w.Class), workload.RejectReason(a)).Inc()
		return reject(trino.ErrQuotaExceeded, workload.QuotaMessage(w.Class, s.Req.Session.User, a.Quota), ""), true
	case store.QueueFull:
		m.Rejected.WithLabelValues(classLabel(w.Class), workload.RejectReason(a)).Inc()
		return reject(trino.ErrQueryQueueFull, workload.QueueFullMessage(w.Class, s.Req.Session.User, a.Full), ""), true
	}
	return reject(trino.ErrGatewayInternal, fmt.Sprintf("workload governance answered %q", a.Outcome), ""), true
}

// shape puts the class's session caps and client tag on the submission,
// and refuses resource_overcommit where the class does not allow it.
func (st governanceStage) shape(s *Submission, cl *governance.Class) (Outcome, bool) {
	props := s.sessionProperties()
	if cl.Overcommit(props) {
		return reject(trino.ErrPolicyDenied, "session property resource_overcommit is not allowed in workload class "+cl.Name+": it bypasses Trino's memory limits", ""), true
	}
	if len(cl.SessionCaps) > 0 {
		capped := cl.Apply(props)
		if len(capped.Changed) > 0 {
			s.setHeader(trino.HeaderSession, governance.SessionHeader(capped.Properties))
			s.Entry.Explanation = append(s.Entry.Explanation, "workload class "+cl.Name+": session caps "+strings.Join(capped.Changed, ", "))
		}
	}
	s.setHeader(trino.HeaderClientTags, governance.AddTag(s.clientTags(), cl.Name))
	return Outcome{}, false
}

// candidates are the clusters a capped submission may run on, in routing's
// order (nil when no cluster it could go to is capped: the cluster is
// chosen by balancing, and counted when the query exists).
func (st governanceStage) candidates(s *Submission, cfg *governance.Config) ([]string, error) {
	if !anyCap(cfg) {
		return nil, nil
	}
	if s.Transaction {
		return []string{s.Route.Cluster}, nil
	}
	if !mayRunCapped(st.p.o.Router.Fleet(), s.Route, cfg) {
		// Asking routing for candidates takes a turn of the group's
		// strategy (round robin, ...), and balancing takes another: ask
		// only when a cap can apply.
		return nil, nil
	}
	_, cands, err := st.p.o.Router.Candidates(s.Route)
	if err != nil {
		return nil, err
	}
	for _, c := range cands {
		if cfg.ClusterCap(c) > 0 {
			return cands, nil
		}
	}
	return nil, nil
}

// mayRunCapped reports whether a cluster the route may lead to is capped:
// its pinned cluster, or a cluster of its group or the group's fallback
// (an unknown group too: routing names the error).
func mayRunCapped(f *fleet.Fleet, r routing.Request, cfg *governance.Config) bool {
	if r.Cluster != "" {
		return cfg.ClusterCap(r.Cluster) > 0
	}
	group := r.Group
	if group == "" {
		group = f.DefaultGroup
	}
	g, ok := f.Group(group)
	if !ok {
		return true
	}
	for _, name := range []string{g.Name, g.Fallback} {
		for _, c := range f.ClustersIn(name) {
			if cfg.ClusterCap(c.Name) > 0 {
				return true
			}
		}
	}
	return false
}

func anyCap(cfg *governance.Config) bool {
	for _, c := range cfg.Clusters {
		if c.MaxRunning > 0 {
			return true
		}
	}
	return false
}

// enqueue puts the submission in the queue with what submitting it later
// takes.
func (st governanceStage) enqueue(ctx context.Context, s *Submission, req store.AdmitRequest) (store.Admission, error) {
	t := st.p.ticket(s)
	payload, err := t.Encode()
	if err != nil {
		return store.Admission{}, err
	}
	s.Workload.slug = newSlug()
	return st.p.o.Governor.Enqueue(ctx, store.EnqueueRequest{AdmitRequest: req, Slug: s.Workload.slug, Payload: payload})
}

// queued is the client's first answer for a queued submission: a QUEUED
// QueryResults whose nextUri is the gateway's queue.
func (st governanceStage) queued(s *Submission, a store.Admission) Outcome {
	req := s.Req
	why := workload.WaitMessage(s.Workload.Class, req.Session.User, a.Position, a.Waiting)
	s.Entry.Explanation = append(s.Entry.Explanation, "queued: "+why)
	body := trino.QueuedQueryResults(req.ID(), req.baseURL()+"/ui/", trino.QueueURI(req.baseURL(), req.ID(), s.Workload.slug, 1), 0, a.Position, why)
	resp := &Response{Status: 200, ContentType: "application/json", Body: body}
	if ap := st.p.addedPrepare(s); ap != "" {
		resp.Headers = append(resp.Headers, Header{Name: trino.HeaderAddedPrepare, Value: ap})
	}
	if !s.Dry {
		st.p.log(req).Info("query queued", "user", req.Session.User, "class", s.Workload.Class, "position", a.Position, "reason", why)
	}
	return Outcome{Action: Respond, Response: resp}
}

// releaseSlot frees the slot of a submission that will not run (a later
// stage refused it, its coordinator never answered with a query).
func (p *Pipeline) releaseSlot(ctx context.Context, s *Submission) {
	w := s.Workload
	if w == nil || w.Slot == "" || w.bound || s.Dry {
		return
	}
	slot := w.Slot
	w.Slot = ""
	if err := p.o.Governor.Release(context.WithoutCancel(ctx), slot); err != nil {
		p.log(s.Req).Warn("releasing a running slot failed; its lease expires instead", "slot", slot, "error", err)
	}
}

// Abandoned ends a routed submission whose coordinator never answered
// (the stream ended without a response): its slot is freed.
func (p *Pipeline) Abandoned(ctx context.Context, s *Submission) {
	p.releaseSlot(ctx, s)
}

// bindSlot ties the submission's slot to its query.
func (p *Pipeline) bindSlot(ctx context.Context, s *Submission, queryID string, owner store.QueryRoute) {
	w := s.Workload
	if w == nil || w.Slot == "" {
		return
	}
	w.bound = true
	if err := p.o.Governor.Bind(ctx, w.Slot, store.Binding{QueryID: queryID, Cluster: owner.Cluster, Coordinator: owner.Coordinator}); err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			p.log(s.Req).Warn("tying a running slot to its query failed; reconciliation frees it when the query ends", "slot", w.Slot, "query", queryID, "error", err)
		}
	}
}

// sessionProperties are the session properties the coordinator would get:
// the policy's X-Trino-Session if it set one, else the client's.
func (s *Submission) sessionProperties() map[string]string {
	if v, ok := s.header(trino.HeaderSession); ok {
		return parseSessionHeader(v)
	}
	return s.Req.Session.Properties
}

// clientTags are the client tags the coordinator would get.
func (s *Submission) clientTags() []string {
	if v, ok := s.header(trino.HeaderClientTags); ok {
		var out []string
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				out = append(out, t)
			}
		}
		return out
	}
	return s.Req.Session.ClientTags
}

// header is an upstream header the gateway set (any case).
func (s *Submission) header(name string) (string, bool) {
	for k, v := range s.Headers {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}

// setHeader sets an upstream header, replacing any case of it.
func (s *Submission) setHeader(name, value string) {
	out := make(map[string]string, len(s.Headers)+1)
	for k, v := range s.Headers {
		if !strings.EqualFold(k, name) {
			out[k] = v
		}
	}
	out[strings.ToLower(name)] = value
	s.Headers = out
}

func parseSessionHeader(v string) map[string]string {
	out := map[string]string{}
	for _, kv := range strings.Split(v, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || name == "" {
			continue
		}
		if u, err := url.QueryUnescape(val); err == nil {
			val = u
		}
		out[name] = val
	}
	return out
}

func classLabel(c string) string {
	if c == "" {
		return "(none)"
	}
	return c
}

func newSlug() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

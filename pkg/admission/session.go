package admission

import (
	"context"
	"slices"

	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/policy"
	"github.com/switchyard-gw/switchyard/pkg/sessions"
	"github.com/switchyard-gw/switchyard/pkg/trino"
)

// ClientSession is a submission's client session on its way through the
// stages (session affinity).
type ClientSession struct {
	Identity sessions.Identity
	Pins     sessions.Pins
	Found    sessions.Found
	// Group is the routing group the affinity stage pinned or chose in.
	Group string
	// Kept: the statement went to the session's pinned cluster.
	Kept bool
	// Left is the pinned cluster the session left (it was no longer
	// healthy and active in the group).
	Left string
}

// sessionLookup identifies the statement's client session and reads
// where it is pinned, for the policy (input.clientSession) and the
// affinity stage. A failing store gives no pins, never an error.
type sessionLookup struct{ p *Pipeline }

func (sessionLookup) Name() string { return "session" }

func (st sessionLookup) Admit(ctx context.Context, s *Submission) (Outcome, bool) {
	t := st.p.o.Sessions
	if t == nil {
		return Outcome{}, false
	}
	ss := &s.Req.Session
	cs := &ClientSession{Identity: sessions.Identify(ss.User, ss.ClientSession, ss.GatewaySession)}
	cs.Pins, cs.Found = t.Lookup(ctx, cs.Identity, ss.User)
	s.Session = cs
	return Outcome{}, false
}

// info is the session as the policy sees it.
func (cs *ClientSession) info() *policy.ClientSessionInfo {
	if cs == nil {
		return nil
	}
	return &policy.ClientSessionInfo{ID: cs.Identity.ID, Source: string(cs.Identity.Source), Clusters: cs.Pins}
}

// affinity sends a statement to the cluster its session is pinned to in
// the statement's routing group, while that cluster is healthy and active
// in the group and the policy allows it; otherwise routing chooses and the
// session moves there (Submitted records it). A cluster the policy pinned
// wins. Statements of an open transaction keep their coordinator (the
// transaction stage pinned it).
type affinity struct{ p *Pipeline }

func (affinity) Name() string { return "affinity" }

func (st affinity) Admit(_ context.Context, s *Submission) (Outcome, bool) {
	cs := s.Session
	if cs == nil || s.Transaction {
		return Outcome{}, false
	}
	f := st.p.o.Router.Fleet()
	cs.Group = s.Route.Group
	if cs.Group == "" {
		cs.Group = f.DefaultGroup
	}
	g, ok := f.Group(cs.Group)
	if !ok || !g.Affinity || s.Route.Cluster != "" {
		return Outcome{}, false
	}
	pinned := cs.Pins[cs.Group]
	if pinned == "" {
		return Outcome{}, false
	}
	if st.usable(f, g, pinned, s.Route.Eligible) {
		s.Route.Cluster, s.Route.PinFrom, cs.Kept = pinned, "client session "+cs.Identity.ID, true
		s.Entry.Explanation = append(s.Entry.Explanation, "client session "+cs.Identity.ID+": stays on "+pinned)
		return Outcome{}, false
	}
	cs.Left = pinned
	s.Entry.Explanation = append(s.Entry.Explanation, "client session "+cs.Identity.ID+": leaves "+pinned+" (not healthy and active in group "+cs.Group+")")
	return Outcome{}, false
}

// usable reports whether the session may stay on cluster name: it is in
// the group (or its fallback group), active, up, and among the clusters
// the policy allows.
func (st affinity) usable(f *fleet.Fleet, g *fleet.Group, name string, eligible []string) bool {
	c, ok := f.Cluster(name)
	if !ok || (c.Group != g.Name && c.Group != g.Fallback) || c.State != fleet.Active || !st.p.o.Router.ClusterUp(c) {
		return false
	}
	return eligible == nil || slices.Contains(eligible, name)
}

// sessionAnswered pins the session to the cluster that took its
// statement, when that changed. It runs from Submitted.
func (p *Pipeline) sessionAnswered(ctx context.Context, s *Submission, cluster string) {
	cs, t := s.Session, p.o.Sessions
	if cs == nil || t == nil {
		return
	}
	group := cs.Group
	if group == "" { // a transaction's statement: decided before the affinity stage
		group = s.Decision.Group
	}
	f := p.o.Router.Fleet()
	if g, ok := f.Group(group); !ok || !g.Affinity {
		return
	}
	outcome := "kept"
	switch {
	case cs.Kept || cs.Pins[group] == cluster:
	case cs.Left != "":
		outcome = "moved"
		p.log(s.Req).Info("client session moves", "session", cs.Identity.ID, "group", group, "from", cs.Left, "to", cluster)
	default:
		outcome = "pinned"
	}
	if outcome != "kept" {
		if err := t.Pin(ctx, cs.Identity, s.Req.Session.User, cs.Pins, group, cluster); err != nil {
			p.o.Metrics.StoreError.WithLabelValues("put_session").Inc()
		}
	}
	if cs.Found == sessions.Lost && outcome == "pinned" {
		outcome = "restarted"
	}
	p.o.Metrics.Sessions.WithLabelValues(outcome).Inc()
}

// addedPrepare is the X-Trino-Added-Prepare value that hands a new
// session its ID with the answer to its first statement, in a group with
// session affinity ("" otherwise). It is decided with the route, so the
// answer needs no further trip through ext_proc.
func (p *Pipeline) addedPrepare(s *Submission) string {
	cs := s.Session
	if cs == nil || cs.Identity.Source != sessions.New || cs.Group == "" {
		return ""
	}
	if g, ok := p.o.Router.Fleet().Group(cs.Group); !ok || !g.Affinity {
		return ""
	}
	return trino.GatewaySessionAdded(cs.Identity.ID)
}

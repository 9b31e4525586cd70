package admission

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/routing"
	"github.com/switchyard-gw/switchyard/pkg/sessions"
	"github.com/switchyard-gw/switchyard/pkg/store"
	"github.com/switchyard-gw/switchyard/pkg/trino"
)

// twoClusterFleet is a round-robin group of a and b, and a group without
// session affinity.
func twoClusterFleet() *fleet.Fleet {
	co := []fleet.Coordinator{{Name: "0", Scheme: "http", Host: "10.0.0.1", Port: 8080, Key: "x"}}
	return &fleet.Fleet{
		DefaultGroup: "adhoc", Groups: []fleet.Group{{Name: "adhoc", Affinity: true}, {Name: "pure"}},
		Clusters: []fleet.Cluster{
			{Name: "a", Group: "adhoc", State: fleet.Active, Coordinators: co},
			{Name: "b", Group: "adhoc", State: fleet.Active, Coordinators: co},
			{Name: "p", Group: "pure", State: fleet.Active, Coordinators: co},
			{Name: "q", Group: "pure", State: fleet.Active, Coordinators: co},
		},
	}
}

type sessionEnv struct {
	t      *testing.T
	p      *Pipeline
	m      *Metrics
	router *routing.Router
	n      int
}

func newSessionEnv(t *testing.T) *sessionEnv {
	r := routing.New(twoClusterFleet(), healthy{})
	st := store.NewMemory()
	p, m := newPipeline(t, st.Queries, func(o *Options) {
		o.Router = r
		o.Sessions = sessions.NewTracker(sessions.Options{Store: st.Sessions})
	})
	return &sessionEnv{t: t, p: p, m: m, router: r}
}

// run submits one statement with headers and has "its coordinator" answer
// (seen by the answer observer);
// it returns the cluster and the response headers the route adds.
func (e *sessionEnv) run(headers ...string) (string, []Header, *Submission) {
	e.t.Helper()
	s := &Submission{Req: submission("SELECT 1", append([]string{"x-trino-user", "alice"}, headers...)...)}
	o := e.p.Submit(context.Background(), s)
	if o.Action != Route {
		e.t.Fatalf("outcome %+v", o)
	}
	cluster, _, _ := strings.Cut(o.Target, "/")
	e.n++
	id := fmt.Sprintf("q_%d", e.n)
	// As in the gateway: the answer observer does the follow-up from the
	// decision's ticket (the session's pins travel in it).
	f, ok := e.p.FollowUp(s)
	if !ok {
		e.t.Fatal("a routed submission has no follow-up")
	}
	e.p.Observed(context.Background(), viaTicket(e.t, f), submission("SELECT 1"), []byte(`{"id":"`+id+`","nextUri":"http://gw/_sy/`+cluster+`/0/v1/statement/queued/`+id+`/x/1"}`))
	var hs []Header
	if o.AddedPrepare != "" {
		hs = append(hs, Header{Name: trino.HeaderAddedPrepare, Value: o.AddedPrepare})
	}
	return cluster, hs, s
}

// echo is what a client sends back for the gateway's added prepared
// statement (the Java and Python clients decode and encode it again).
func echo(t *testing.T, hs []Header) string {
	t.Helper()
	for _, h := range hs {
		if h.Name == trino.HeaderAddedPrepare {
			name, sql, _ := strings.Cut(h.Value, "=")
			s, err := url.QueryUnescape(sql)
			if err != nil {
				t.Fatal(err)
			}
			return name + "=" + url.QueryEscape(s)
		}
	}
	t.Fatalf("no %s in %+v", trino.HeaderAddedPrepare, hs)
	return ""
}

func TestSessionAffinity(t *testing.T) {
	t.Run("a gateway session stays on its first cluster; a new one is balanced", func(t *testing.T) {
		e := newSessionEnv(t)
		first, hs, _ := e.run()
		entry := echo(t, hs)
		for range 5 {
			c, hs, s := e.run(trino.HeaderPreparedStatement, "mine=SELECT+2,"+entry)
			if c != first || len(hs) != 0 {
				t.Fatalf("statement went to %s (session on %s), headers %+v", c, first, hs)
			}
			if !s.Req.Session.StripPrepared || strings.Join(s.Req.Session.Prepared, ",") != "mine=SELECT+2" {
				t.Fatalf("the gateway's entry is not stripped: %+v", s.Req.Session)
			}
		}
		// Round robin: a second session lands on the other cluster.
		if c, _, _ := e.run(); c == first {
			t.Fatalf("a new session went to %s too; round-robin should have taken the other", c)
		}
		if n := testutil.ToFloat64(e.m.Sessions.WithLabelValues("kept")); n != 5 {
			t.Fatalf("kept %v, want 5", n)
		}
	})
	t.Run("a client-named session stays, per user", func(t *testing.T) {
		e := newSessionEnv(t)
		first, hs, _ := e.run(trino.HeaderClientSession, "nb-1")
		if len(hs) != 0 {
			t.Fatalf("a client-named session was handed a gateway ID: %+v", hs)
		}
		for range 3 {
			if c, _, _ := e.run(trino.HeaderClientSession, "nb-1"); c != first {
				t.Fatalf("went to %s, session on %s", c, first)
			}
		}
		s := &Submission{Req: submission("SELECT 1", "x-trino-user", "bob", trino.HeaderExternalSession, "nb-1")}
		e.p.Submit(context.Background(), s)
		if s.Session.Found != sessions.Lost || s.Session.Identity.Source != sessions.FromHeader {
			t.Fatalf("bob's nb-1 is alice's session: %+v", s.Session)
		}
	})
	t.Run("a session whose cluster is drained moves once, then stays", func(t *testing.T) {
		e := newSessionEnv(t)
		first, hs, _ := e.run()
		entry := echo(t, hs)
		f := twoClusterFleet()
		for i := range f.Clusters {
			if f.Clusters[i].Name == first {
				f.Clusters[i].State = fleet.Draining
			}
		}
		e.router.SetFleet(f)
		moved, _, s := e.run(trino.HeaderPreparedStatement, entry)
		if moved == first || s.Session.Left != first {
			t.Fatalf("went to %s (left %q), want off the drained %s", moved, s.Session.Left, first)
		}
		e.router.SetFleet(twoClusterFleet()) // back: the session stays where it moved
		for range 3 {
			if c, _, _ := e.run(trino.HeaderPreparedStatement, entry); c != moved {
				t.Fatalf("went to %s after the move to %s", c, moved)
			}
		}
		if n := testutil.ToFloat64(e.m.Sessions.WithLabelValues("moved")); n != 1 {
			t.Fatalf("moved %v times, want once", n)
		}
	})
	t.Run("a group without affinity balances every statement", func(t *testing.T) {
		e := newSessionEnv(t)
		seen := map[string]bool{}
		_, hs, _ := e.run(trino.HeaderRoutingGroup, "pure")
		if len(hs) != 0 {
			t.Fatalf("a session was handed out in a group without affinity: %+v", hs)
		}
		for range 4 {
			c, _, _ := e.run(trino.HeaderRoutingGroup, "pure", trino.HeaderClientSession, "s")
			seen[c] = true
		}
		if len(seen) != 2 {
			t.Fatalf("clusters %v; want both p and q", seen)
		}
	})
	t.Run("an unknown or idled-out gateway ID starts afresh, no error", func(t *testing.T) {
		e := newSessionEnv(t)
		_, hs, s := e.run(trino.HeaderPreparedStatement, "switchyard_session="+url.QueryEscape("SELECT 'switchyard session 0123456789abcdef0123456789abcdef'"))
		if s.Session.Found != sessions.Lost || len(hs) != 0 {
			t.Fatalf("session %+v, headers %+v", s.Session, hs)
		}
		if n := testutil.ToFloat64(e.m.Sessions.WithLabelValues("restarted")); n != 1 {
			t.Fatalf("restarted %v", n)
		}
	})
	t.Run("the policy sees the session", func(t *testing.T) {
		e := newSessionEnv(t)
		first, hs, _ := e.run()
		s := &Submission{Req: submission("SELECT 1", "x-trino-user", "alice", trino.HeaderPreparedStatement, echo(t, hs))}
		e.p.Submit(context.Background(), s)
		in := s.Session.info()
		if in.Source != "gateway" || in.Clusters["adhoc"] != first || len(in.ID) != 32 {
			t.Fatalf("policy input %+v", in)
		}
	})
}

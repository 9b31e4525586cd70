package admission

import (
	"context"
	"errors"
	"net/url"

	"github.com/switchyard-gw/switchyard/pkg/store"
	"github.com/switchyard-gw/switchyard/pkg/trino"
)

// Submitted reads the coordinator's first answer to a routed submission
// (the first QueryResults) and records the query's owner in the store, so
// requests about it that arrive without the gateway's prefix find it, and
// the client session's cluster. The answer observer calls it (through
// Observed) while the client reads the answer; the queue service, before
// it hands the answer on.
func (p *Pipeline) Submitted(ctx context.Context, s *Submission, body []byte) {
	if s == nil || s.Decision.Group == "" || s.Dry {
		return
	}
	r, err := trino.ParseSubmitResponse(body)
	if err != nil {
		p.log(s.Req).Warn("submission answered without a query ID", "cluster", s.Decision.Cluster, "error", err)
		p.o.Metrics.Answers.WithLabelValues("refused").Inc()
		p.releaseSlot(ctx, s)
		return
	}
	route, ok := OwnerFromURIs(r)
	if !ok {
		// Not an answer of the chosen coordinator (e.g. a gateway error
		// document): nothing to record.
		p.log(s.Req).Warn("submission answer carries no gateway prefix; query owner not recorded",
			"query", r.ID, "cluster", s.Decision.Cluster, "nextUri", r.NextURI)
		p.o.Metrics.Answers.WithLabelValues("refused").Inc()
		p.releaseSlot(ctx, s)
		return
	}
	route.User = s.Req.Session.User
	p.o.Metrics.Answers.WithLabelValues("recorded").Inc()
	p.keepReplay(ctx, s, r.ID)
	if s.Session != nil {
		// A new or moved session's pin is written beside the owner
		// record, not after it: the answer waits for both, one round trip.
		done := make(chan struct{})
		go func() {
			defer close(done)
			p.sessionAnswered(ctx, s, route.Cluster)
		}()
		defer func() { <-done }()
	}
	if s.Workload != nil && s.Workload.Slot != "" {
		// The running slot is tied to the query beside the owner record
		// too (a completion finds the slot by the query's ID).
		done := make(chan struct{})
		go func() {
			defer close(done)
			p.bindSlot(ctx, s, r.ID, route)
		}()
		defer func() { <-done }()
	}
	sctx, cancel := p.storeCtx(ctx)
	defer cancel()
	if err := p.o.Queries.PutQuery(sctx, r.ID, route, p.o.QueryTTL); err != nil {
		// The client still follows prefixed URIs; only unprefixed lookups
		// of this query can miss until the record is written.
		p.o.Metrics.StoreError.WithLabelValues("put_query").Inc()
		if !errors.Is(err, ErrDeferred) { // a deferred record is retried, and logged once per interval
			p.o.Degraded.Fail("store.put_query", "recording query owners fails; requests without the gateway prefix cannot find those queries", "query", r.ID, "owner", route.String(), "error", err)
		}
	} else {
		p.o.Degraded.Recover("store.put_query", "recording query owners works again")
	}
	if p.o.Decisions != nil && s.Entry != nil {
		p.o.Decisions.SetQueryID(s.Entry, r.ID)
	}
	p.log(s.Req).Info("query submitted", "query", r.ID, "user", route.User, "group", s.Decision.Group, "owner", route.String())
}

// OwnerFromURIs reads the coordinator that answered a submission from the
// /_sy/{cluster}/{coordinator} prefix it put in front of its URIs.
func OwnerFromURIs(r trino.SubmitResponse) (store.QueryRoute, bool) {
	for _, uri := range []string{r.NextURI, r.InfoURI} {
		if u, err := url.Parse(uri); err == nil {
			if c, k, _, ok := trino.ParseCoordinatorPrefix(u.Path); ok {
				return store.QueryRoute{Cluster: c, Coordinator: k}, true
			}
		}
	}
	return store.QueryRoute{}, false
}

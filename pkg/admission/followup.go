package admission

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/routing"
	"github.com/switchyard-gw/switchyard/pkg/store"
	"github.com/switchyard-gw/switchyard/pkg/trino"
)

// Locate sends a request about a query that arrived without the gateway's
// path prefix (a nextUri the client rebuilt, /v1/query/{id}, UI pages, a
// kill) to the coordinator that owns the query, as recorded in the store.
// A malformed query ID in the path is refused.
func (p *Pipeline) Locate(ctx context.Context, req *Request) Outcome {
	info, err := req.PathInfo()
	if err != nil {
		return p.refuse(req, reject(trino.ErrMalformedQueryID, err.Error(), info.QueryID))
	}
	if info.QueryID == "" {
		return p.Anywhere(ctx, req)
	}
	id := info.QueryID
	sctx, cancel := p.storeCtx(ctx)
	defer cancel()
	r, err := p.o.Queries.GetQuery(sctx, id)
	if errors.Is(err, store.ErrNotFound) && p.justCreated(id) {
		r, err = p.awaitOwner(ctx, id)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return p.refuse(req, reject(trino.ErrQueryNotFound, fmt.Sprintf(
			"query %s is not known to the gateway: it was not submitted through it, or it finished more than the query TTL ago", id), id))
	case err != nil:
		p.o.Metrics.StoreError.WithLabelValues("get_query").Inc()
		p.o.Degraded.Fail("store.get_query", "looking up query owners fails; requests without the gateway prefix are refused (prefixed polls are unaffected)", "query", id, "error", err)
		return p.refuse(req, reject(trino.ErrGatewayInternal, fmt.Sprintf(
			"the gateway cannot look up query %s right now (shared store unavailable); follow the nextUri the server returned, or retry", id), id))
	}
	p.o.Degraded.Recover("store.get_query", "looking up query owners works again")
	target, _, ok := p.ownerTarget(r)
	if !ok {
		return p.refuse(req, reject(trino.ErrQueryNotFound, fmt.Sprintf("query %s ran on cluster %s, which is no longer in the fleet", id, r.Cluster), id))
	}
	return routeTo(target)
}

// ownerClockSkew is how far apart the gateway's and a coordinator's
// clocks may be when judging a query ID's age.
const ownerClockSkew = 30 * time.Second

// justCreated: the query ID says the query was created moments ago, so
// its owner record may still be on its way (it is written as the client
// reads the coordinator's first answer, and a client may ask about the
// query at once). An older unknown query is not waited for.
func (p *Pipeline) justCreated(id string) bool {
	t, ok := trino.QueryIDTime(id)
	if !ok {
		return false
	}
	age := time.Since(t)
	return age > -ownerClockSkew && age < p.o.OwnerWait+ownerClockSkew
}

// awaitOwner reads the owner record of a query just created until it
// appears, within OwnerWait.
func (p *Pipeline) awaitOwner(ctx context.Context, id string) (store.QueryRoute, error) {
	start := time.Now()
	deadline := start.Add(p.o.OwnerWait)
	wait := 2 * time.Millisecond
	for {
		pause := min(wait, time.Until(deadline))
		if pause <= 0 {
			p.o.Metrics.OwnerWaits.WithLabelValues("timeout").Inc()
			return store.QueryRoute{}, store.ErrNotFound
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return store.QueryRoute{}, ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 50*time.Millisecond)
		sctx, cancel := p.storeCtx(ctx)
		r, err := p.o.Queries.GetQuery(sctx, id)
		cancel()
		if !errors.Is(err, store.ErrNotFound) {
			if err == nil {
				p.o.Metrics.OwnerWaits.WithLabelValues("found").Inc()
				p.o.Metrics.OwnerWaitSeconds.Observe(time.Since(start).Seconds())
			}
			return r, err
		}
	}
}

// ownerTarget is the route target of a recorded owner: its coordinator,
// or its cluster when the coordinator has left the fleet; false when the
// cluster has.
func (p *Pipeline) ownerTarget(r store.QueryRoute) (string, *fleet.Cluster, bool) {
	c, ok := p.o.Router.Fleet().Cluster(r.Cluster)
	if !ok {
		return "", nil, false
	}
	if _, ok := c.Coordinator(r.Coordinator); ok {
		return fleet.Key(c.Name, r.Coordinator), c, true
	}
	return c.Name, c, true
}

// TooLarge refuses a submission whose SQL text is over the gateway's
// limit (the transport counts the bytes as they arrive).
func (p *Pipeline) TooLarge(req *Request, limit int) Outcome {
	return p.refuse(req, reject(trino.ErrQueryTextTooLarge, fmt.Sprintf(
		"query text exceeds the gateway limit of %d bytes (listener.maxBodyBytes)", limit), ""))
}

// Anywhere sends a request that belongs to no query (server info, UI
// assets, query lists) to a healthy cluster of the default group.
func (p *Pipeline) Anywhere(_ context.Context, req *Request) Outcome {
	d, err := p.o.Router.Route(routing.Request{})
	if err != nil {
		return p.refuse(req, routingError(err))
	}
	return routeTo(d.Cluster)
}

// refuse logs a rejection of a request that is not a submission.
func (p *Pipeline) refuse(req *Request, o Outcome) Outcome {
	p.log(req).Info("request rejected", "error", o.Error.Code.Name, "message", o.Error.Message, "user", req.Session.User)
	return o
}

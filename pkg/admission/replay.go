package admission

import (
	"context"

	"github.com/switchyard-gw/switchyard/pkg/sqlclass"
	"github.com/switchyard-gw/switchyard/pkg/store"
)

// replayable reports whether a statement of this type may run twice
// without anyone noticing: it reads and writes nothing (SELECT, SHOW,
// DESCRIBE, EXPLAIN without ANALYZE). Anything else, including EXECUTE of
// a prepared statement, is never resubmitted.
func replayable(statementType string) bool {
	switch statementType {
	case sqlclass.TypeSelect, sqlclass.TypeShow, sqlclass.TypeExplain:
		return true
	}
	return false
}

// replay is how to send s again, if it may be: a read-only statement
// outside a transaction, no longer than the limit.
func (p *Pipeline) replay(s *Submission) (store.Replay, bool) {
	if p.o.Replays == nil || p.o.ReplayMaxBytes <= 0 || len(s.Req.Body) > p.o.ReplayMaxBytes || s.Req.Session.InTransaction() {
		return store.Replay{}, false
	}
	typ := s.Class.Type
	if typ == "" {
		typ = sqlclass.StatementType(s.SQL(), sqlclass.Options{})
	}
	if !replayable(typ) {
		return store.Replay{}, false
	}
	headers := upstreamHeaderList(s)
	return store.Replay{SQL: s.SQL(), Headers: headers, Group: s.Decision.Group, User: s.Req.Session.User}, true
}

// keepReplay records how to send the query again, when it may be. The
// write runs in the background: the client's answer never waits for it
// (it is only read if the coordinator dies later); Wait waits for it.
func (p *Pipeline) keepReplay(ctx context.Context, s *Submission, queryID string) {
	r, ok := p.replay(s)
	if !ok {
		return
	}
	req := s.Req
	p.background.Add(1)
	go func() {
		defer p.background.Done()
		sctx, cancel := p.storeCtx(context.WithoutCancel(ctx))
		defer cancel()
		if err := p.o.Replays.PutReplay(sctx, queryID, r, p.o.QueryTTL); err != nil {
			p.o.Metrics.StoreError.WithLabelValues("put_replay").Inc()
			p.o.Degraded.Fail("store.put_replay", "keeping read-only queries for resubmission fails; they cannot be resubmitted if their coordinator dies", "query", queryID, "request", req.ID(), "error", err)
			return
		}
		p.o.Degraded.Recover("store.put_replay", "keeping read-only queries for resubmission works again")
	}()
}

// Wait waits for the pipeline's background store writes (the replays of
// read-only queries) to end.
func (p *Pipeline) Wait() { p.background.Wait() }

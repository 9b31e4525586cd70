package admission

import (
	"context"
	"errors"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/store"
	"github.com/switchyard-gw/switchyard/pkg/trino"
)

// transaction pins a statement of an open transaction to the coordinator
// that started it, whatever the routing group: only that coordinator
// knows the transaction. Later stages see the pin (Submission.Coordinator)
// and keep it.
type transaction struct{ p *Pipeline }

func (transaction) Name() string { return "transaction" }

func (st transaction) Admit(ctx context.Context, s *Submission) (Outcome, bool) {
	ss := &s.Req.Session
	if !ss.InTransaction() {
		return Outcome{}, false
	}
	txn := ss.Transaction
	r, err := st.lookup(ctx, txn)
	if err != nil {
		o := reject(trino.ErrGatewayInternal, "the gateway cannot look up transaction "+txn+" right now (shared store unavailable)", "")
		if errors.Is(err, store.ErrNotFound) {
			o = reject(trino.ErrUnknownTransaction, "transaction "+txn+" is not known to the gateway: it was not started through it, or it ended", "")
		}
		return o, true
	}
	target, c, ok := st.p.ownerTarget(r)
	if !ok {
		o := reject(trino.ErrUnknownTransaction, "transaction "+txn+" lives on cluster "+r.Cluster+", which is no longer in the fleet", "")
		return o, true
	}
	// Pinned to the coordinator: governance counts the statement there,
	// and balance routes it there.
	s.Route.Cluster, s.Route.PinFrom, s.Coordinator = c.Name, "transaction "+txn, ""
	if target != c.Name { // the coordinator is still in the fleet
		s.Coordinator = r.Coordinator
	}
	s.Transaction = true
	s.Entry.Explanation = append(s.Entry.Explanation, "statement of transaction "+txn+": pinned to "+target)
	return Outcome{}, false
}

// lookup finds the coordinator of a transaction. The mapping is recorded
// from the access log of the response that started it, a moment after the
// client saw that response, so a miss waits a little. A record that stays
// missing (lost in a Redis failover, or not written while Redis failed
// over), or a store that fails, sends the question to the coordinators
// (FindTransaction), and a found owner is written back. The whole lookup,
// store calls included, ends within TransactionWait: Envoy's ext_proc
// message timeout must never fire first (that would answer the client
// GATEWAY_UNAVAILABLE instead of the lookup's own answer).
func (st transaction) lookup(ctx context.Context, txn string) (store.QueryRoute, error) {
	ctx, cancel := context.WithTimeout(ctx, st.p.o.TransactionWait)
	defer cancel()
	start := time.Now()
	found := make(chan store.QueryRoute, 1)
	asking := false
	for {
		sctx, scancel := st.p.storeCtx(ctx)
		r, err := st.p.o.Queries.GetTransaction(sctx, txn)
		scancel()
		if err == nil {
			return r, nil
		}
		if find := st.p.o.FindTransaction; find != nil && !asking && (!errors.Is(err, store.ErrNotFound) || time.Since(start) >= transactionGrace) {
			asking = true
			go func() {
				askStart := time.Now()
				r, err := find(ctx, txn)
				if err == nil {
					found <- r
					return
				}
				st.p.o.Logger.Warn("transaction not found by asking the coordinators", "transaction", txn, "error", err, "took", time.Since(askStart).String())
			}()
		}
		if !asking && !errors.Is(err, store.ErrNotFound) {
			return r, err // the store fails and nobody else can tell
		}
		select {
		case r := <-found:
			st.p.o.Logger.Info("transaction owner found by asking the coordinators (its record was missing)", "transaction", txn, "owner", r.String(), "store", errString(err))
			st.p.writeBack(txn, r)
			return r, nil
		case <-ctx.Done():
			return r, err // still not found when the wait ended
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// transactionGrace is how long a missing transaction record is waited for
// before the coordinators are asked: the access log that records it
// usually lands within milliseconds of the client seeing the transaction.
const transactionGrace = 50 * time.Millisecond

// writeBack records a transaction owner that was found by asking, in the
// background (bounded by the store timeout), so later statements find it.
func (p *Pipeline) writeBack(txn string, r store.QueryRoute) {
	p.background.Add(1)
	go func() {
		defer p.background.Done()
		ctx, cancel := p.storeCtx(context.Background())
		defer cancel()
		if err := p.o.Queries.PutTransaction(ctx, txn, r, p.o.QueryTTL); err != nil {
			p.o.Degraded.Fail("store.put_transaction", "writing back a transaction owner fails", "transaction", txn, "error", err)
		}
	}()
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

package txlog

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/switchyard-gw/switchyard/pkg/coordinator"
	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/store"
)

// QueryLister reads a coordinator's queries (coordinator.Client).
type QueryLister interface {
	Queries(ctx context.Context, baseURL, state string) ([]coordinator.QuerySummary, error)
	Query(ctx context.Context, baseURL, queryID string) (*coordinator.QueryDetail, error)
}

// maxStarts bounds the START TRANSACTION queries read per coordinator.
const maxStarts = 16

// Finder finds the coordinator of a transaction the store does not know:
// its record was lost (Redis replication is asynchronous, so a failover
// can drop the last writes) or could not be written while Redis failed
// over. Only the coordinator that started a transaction knows it, and its
// query list (GET /v1/query, a few milliseconds) shows it: a statement
// that ran in the transaction carries its ID in its session, and the
// START TRANSACTION that began it names it (GET /v1/query/{id},
// startedTransactionId). Finder asks every coordinator of the fleet that
// is not known to be down, all at once.
type Finder struct {
	Fleet func() *fleet.Fleet
	// Down reports a coordinator known to be down (not asked).
	Down    func(key string) bool
	Queries QueryLister
}

// Find returns the transaction's owner, store.ErrNotFound when no
// coordinator knows it, or an error naming the coordinators that could
// not be asked; it ends when ctx does.
func (f *Finder) Find(ctx context.Context, txn string) (store.QueryRoute, error) {
	if !ValidTransactionID(txn) {
		return store.QueryRoute{}, fmt.Errorf("%q is not a Trino transaction ID: %w", txn, store.ErrNotFound)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type answer struct {
		r     store.QueryRoute
		found bool
		err   error
	}
	fl := f.Fleet()
	total := 0
	for _, c := range fl.Clusters {
		total += len(c.Coordinators)
	}
	answers := make(chan answer, total) // no sender blocks once Find has returned
	asked := 0
	for _, c := range fl.Clusters {
		for _, co := range c.Coordinators {
			if f.Down != nil && f.Down(co.Key) {
				continue
			}
			asked++
			go func() {
				found, err := f.knows(ctx, co.URL, txn)
				answers <- answer{r: store.QueryRoute{Cluster: c.Name, Coordinator: co.Name}, found: found, err: err}
			}()
		}
	}
	var errs []string
	for range asked {
		select {
		case a := <-answers:
			if a.found {
				return a.r, nil
			}
			if a.err != nil {
				errs = append(errs, a.r.String()+": "+a.err.Error())
			}
		case <-ctx.Done():
			return store.QueryRoute{}, ctx.Err()
		}
	}
	if len(errs) > 0 {
		return store.QueryRoute{}, errors.New("no coordinator that answered knows transaction " + txn + "; " + strings.Join(errs, "; "))
	}
	return store.QueryRoute{}, fmt.Errorf("no coordinator knows transaction %s: %w", txn, store.ErrNotFound)
}

// knows reports whether the coordinator at url knows the transaction.
func (f *Finder) knows(ctx context.Context, url, txn string) (bool, error) {
	qs, err := f.Queries.Queries(ctx, url, "")
	if err != nil {
		return false, err
	}
	var starts []string
	for _, q := range qs {
		if q.Session.TransactionID == txn {
			return true, nil
		}
		if isStart(q.Query) && q.State == "FINISHED" {
			starts = append(starts, q.QueryID)
		}
	}
	// The newest START TRANSACTIONs (Trino lists queries oldest first),
	// read at once: one after the other took longer than the lookup's
	// bound on a loaded coordinator.
	if len(starts) > maxStarts {
		starts = starts[len(starts)-maxStarts:]
	}
	if len(starts) == 0 {
		return false, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	hits := make(chan bool, len(starts)) // no sender blocks once knows has returned
	for _, id := range starts {
		go func() {
			d, err := f.Queries.Query(ctx, url, id)
			// An error: it aged out of the coordinator's history, or ctx ended.
			hits <- err == nil && d.StartedTransactionID == txn
		}()
	}
	for range starts {
		if <-hits {
			return true, nil
		}
	}
	return false, ctx.Err()
}

// isStart reports whether sql is a START TRANSACTION statement.
func isStart(sql string) bool {
	f := strings.Fields(sql)
	return len(f) >= 2 && strings.EqualFold(f[0], "START") && strings.EqualFold(f[1], "TRANSACTION")
}

// ValidTransactionID reports whether s is a Trino transaction ID (a UUID
// in its canonical lower-case form).
func ValidTransactionID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return false
			}
		}
	}
	return true
}

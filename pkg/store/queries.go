package store

import (
	"context"
	"errors"
	"strings"
	"time"
)

// Queries records where queries and transactions live: the sticky map that
// routes requests arriving without the gateway's path prefix (the REST API,
// UI pages, kills, clients that build URLs themselves) and the statements of
// an open transaction.
type Queries interface {
	// PutQuery records where a query lives, for ttl.
	PutQuery(ctx context.Context, queryID string, r QueryRoute, ttl time.Duration) error
	// GetQuery returns where a query lives, or ErrNotFound.
	GetQuery(ctx context.Context, queryID string) (QueryRoute, error)
	// PutTransaction records where a transaction lives, for ttl.
	PutTransaction(ctx context.Context, txnID string, r QueryRoute, ttl time.Duration) error
	// GetTransaction returns where a transaction lives, or ErrNotFound.
	GetTransaction(ctx context.Context, txnID string) (QueryRoute, error)
}

// QueryRoute says where a query lives (and who submitted it).
type QueryRoute struct {
	Cluster     string
	Coordinator string // empty when only the cluster is known
	User        string // the submitting user, when known
}

// String is "cluster" or "cluster/coordinator".
func (r QueryRoute) String() string {
	if r.Coordinator == "" {
		return r.Cluster
	}
	return r.Cluster + "/" + r.Coordinator
}

// Encode is the stored form: String, then the user after a tab (tabs are
// dropped from the user).
func (r QueryRoute) Encode() string {
	if r.User == "" {
		return r.String()
	}
	return r.String() + "\t" + cleanUser(r.User)
}

// normalized is the route as it comes back from the store: the user
// without tabs.
func (r QueryRoute) normalized() QueryRoute {
	r.User = cleanUser(r.User)
	return r
}

func cleanUser(u string) string {
	if strings.IndexByte(u, '\t') < 0 {
		return u
	}
	return strings.ReplaceAll(u, "\t", "")
}

// ParseQueryRoute decodes the stored form.
func ParseQueryRoute(s string) (QueryRoute, error) {
	route, user, _ := strings.Cut(s, "\t")
	c, k, _ := strings.Cut(route, "/")
	if c == "" {
		return QueryRoute{}, errors.New("empty query route")
	}
	return QueryRoute{Cluster: c, Coordinator: k, User: cleanUser(user)}, nil
}

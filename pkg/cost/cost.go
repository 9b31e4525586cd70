// Package cost estimates what a query will read before it runs: Switchyard
// asks a designated cluster for EXPLAIN (TYPE IO, FORMAT JSON) and gives the
// estimates to the routing policy (input.query.cost), e.g. to send big
// queries to a big cluster. Off by default; bounded by a timeout; cached by
// the normalised SQL text.
package cost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/coordinator"
)

// Estimate is what EXPLAIN IO reports, as policy input.
type Estimate map[string]any

// Estimator runs EXPLAIN on a designated cluster.
type Estimator struct {
	// Coordinator returns the base URL of the cluster to ask.
	Coordinator func() (string, bool)
	Timeout     time.Duration
	TTL         time.Duration
	MaxEntries  int
	// Client runs the EXPLAINs (required).
	Client *coordinator.Client

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	est     Estimate
	expires time.Time
}

// Types worth estimating. Of a write (INSERT, CREATE TABLE AS) only the
// query that produces its rows is EXPLAINed, never the write itself: on
// Trino 476's memory connector EXPLAIN (TYPE IO) of CREATE TABLE AS
// creates the (empty) table, and the real statement then fails.
var estimable = map[string]bool{"SELECT": true, "INSERT": true, "CREATE_TABLE_AS": true}

// Estimable reports whether a statement type can be estimated (for
// writes: their query part, see sqlclass.Result.QueryStart).
func Estimable(queryType string) bool { return estimable[queryType] }

// Normalise collapses whitespace outside string literals, so the same
// query written differently shares a cache entry.
func Normalise(sql string) string {
	var b strings.Builder
	inString, space := false, false
	for _, r := range strings.TrimSpace(sql) {
		switch {
		case r == '\'':
			inString = !inString
		case !inString && (r == ' ' || r == '\n' || r == '\t' || r == '\r'):
			space = true
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return strings.TrimSuffix(b.String(), ";")
}

// Estimate returns the estimates of sql for user in the session's catalog
// and schema, from the cache or by asking.
func (e *Estimator) Estimate(ctx context.Context, sql, user, catalog, schema string) (Estimate, error) {
	key := catalog + "\x00" + schema + "\x00" + Normalise(sql)
	now := time.Now()
	e.mu.Lock()
	if c, ok := e.cache[key]; ok && now.Before(c.expires) {
		e.mu.Unlock()
		return c.est, nil
	}
	e.mu.Unlock()
	base, ok := e.Coordinator()
	if !ok {
		return nil, errors.New("the cost cluster has no healthy coordinator")
	}
	ctx, cancel := context.WithTimeout(ctx, e.Timeout)
	defer cancel()
	doc, err := e.explain(ctx, base, strings.TrimSuffix(strings.TrimSpace(sql), ";"), user, catalog, schema)
	if err != nil {
		return nil, err
	}
	est, err := parse(doc)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cache == nil {
		e.cache = map[string]cached{}
	}
	if len(e.cache) >= e.MaxEntries {
		for k := range e.cache { // evict an arbitrary entry
			delete(e.cache, k)
			break
		}
	}
	e.cache[key] = cached{est: est, expires: now.Add(e.TTL)}
	return est, nil
}

// explain runs the EXPLAIN as the submitting user, in the session's
// catalog and schema, and returns the JSON document it prints.
func (e *Estimator) explain(ctx context.Context, base, sql, user, catalog, schema string) (string, error) {
	res, err := e.Client.Execute(ctx, base, "EXPLAIN (TYPE IO, FORMAT JSON) "+sql,
		coordinator.Session{User: user, Source: "switchyard-cost", Catalog: catalog, Schema: schema})
	var qe *coordinator.QueryError
	switch {
	case errors.As(err, &qe):
		return "", fmt.Errorf("EXPLAIN failed: %s", qe.Message)
	case err != nil:
		return "", fmt.Errorf("EXPLAIN: %w", err)
	}
	var out strings.Builder
	for _, row := range res.Rows {
		if len(row) > 0 {
			if s, ok := row[0].(string); ok {
				out.WriteString(s)
			}
		}
	}
	return out.String(), nil
}

type ioPlan struct {
	Inputs []struct {
		Estimate estimate `json:"estimate"`
	} `json:"inputTableColumnInfos"`
	Estimate estimate `json:"estimate"`
}

type estimate struct {
	// Unknown estimates are "NaN" (coordinator.Float reads Trino's
	// strings for values JSON cannot hold).
	OutputRowCount    coordinator.Float `json:"outputRowCount"`
	OutputSizeInBytes coordinator.Float `json:"outputSizeInBytes"`
	CPUCost           coordinator.Float `json:"cpuCost"`
	MaxMemory         coordinator.Float `json:"maxMemory"`
	NetworkCost       coordinator.Float `json:"networkCost"`
}

// known reports whether an estimate is a usable value: finite and not
// negative.
func known(v coordinator.Float) bool {
	f := float64(v)
	return !math.IsNaN(f) && !math.IsInf(f, 0) && f >= 0
}

// parse turns the EXPLAIN IO document into policy input: totals over the
// input tables and the query's output. Unknown values (NaN, infinite or
// negative estimates) are left out, so every value is a finite number the
// policy can compare; a value of the wrong type is an error.
func parse(doc string) (Estimate, error) {
	var p ioPlan
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		return nil, fmt.Errorf("EXPLAIN IO output: %w", err)
	}
	est := Estimate{"inputTables": len(p.Inputs)}
	var rows, size float64
	all := true
	for _, in := range p.Inputs {
		if !known(in.Estimate.OutputRowCount) || !known(in.Estimate.OutputSizeInBytes) {
			all = false
			continue
		}
		rows += float64(in.Estimate.OutputRowCount)
		size += float64(in.Estimate.OutputSizeInBytes)
	}
	if all && !math.IsInf(rows, 0) && !math.IsInf(size, 0) {
		est["inputRows"], est["inputBytes"] = math.Round(rows), math.Round(size)
	}
	put := func(k string, v coordinator.Float) {
		if known(v) {
			est[k] = math.Round(float64(v))
		}
	}
	put("outputRows", p.Estimate.OutputRowCount)
	put("outputBytes", p.Estimate.OutputSizeInBytes)
	put("cpuCost", p.Estimate.CPUCost)
	put("maxMemory", p.Estimate.MaxMemory)
	put("networkCost", p.Estimate.NetworkCost)
	return est, nil
}

// Package cost estimates what a query will read before it runs: Switchyard
// asks a designated cluster for EXPLAIN (TYPE IO, FORMAT JSON) and gives the
// estimates to the routing policy (input.query.cost), e.g. to send big
// queries to a big cluster. Off by default; bounded by a timeout; cached by
// the normalised SQL text.
package cost

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"
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
	Client      *http.Client

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	est     Estimate
	expires time.Time
}

// Types worth estimating (EXPLAIN IO supports them).
var estimable = map[string]bool{"SELECT": true, "INSERT": true, "CREATE_TABLE_AS": true}

// Estimable reports whether a statement type can be estimated.
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

type results struct {
	NextURI string  `json:"nextUri"`
	Data    [][]any `json:"data"`
	Error   *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// explain runs the EXPLAIN through the client protocol and returns the
// JSON document it prints.
func (e *Estimator) explain(ctx context.Context, base, sql, user, catalog, schema string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/statement", strings.NewReader("EXPLAIN (TYPE IO, FORMAT JSON) "+sql))
	if err != nil {
		return "", err
	}
	req.Header.Set("X-Trino-User", user)
	req.Header.Set("X-Trino-Source", "switchyard-cost")
	if catalog != "" {
		req.Header.Set("X-Trino-Catalog", catalog)
	}
	if schema != "" {
		req.Header.Set("X-Trino-Schema", schema)
	}
	var out strings.Builder
	next := ""
	for i := 0; ; i++ {
		r, err := e.do(req)
		if err != nil {
			if next != "" {
				e.cancel(next)
			}
			return "", fmt.Errorf("EXPLAIN: %w", err)
		}
		if r.Error != nil {
			return "", fmt.Errorf("EXPLAIN failed: %s", r.Error.Message)
		}
		for _, row := range r.Data {
			if len(row) > 0 {
				if s, ok := row[0].(string); ok {
					out.WriteString(s)
				}
			}
		}
		if r.NextURI == "" {
			return out.String(), nil
		}
		if i > 1000 {
			return "", errors.New("EXPLAIN: too many pages")
		}
		next = r.NextURI
		if req, err = http.NewRequestWithContext(ctx, http.MethodGet, next, nil); err != nil {
			return "", err
		}
		req.Header.Set("X-Trino-User", user)
	}
}

func (e *Estimator) do(req *http.Request) (*results, error) {
	resp, err := e.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	var r results
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// cancel abandons an EXPLAIN that ran out of time (best effort).
func (e *Estimator) cancel(next string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if req, err := http.NewRequestWithContext(ctx, http.MethodDelete, next, nil); err == nil {
		if resp, err := e.Client.Do(req); err == nil {
			resp.Body.Close()
		}
	}
}

type ioPlan struct {
	Inputs []struct {
		Estimate estimate `json:"estimate"`
	} `json:"inputTableColumnInfos"`
	Estimate estimate `json:"estimate"`
}

type estimate struct {
	OutputRowCount    number `json:"outputRowCount"`
	OutputSizeInBytes number `json:"outputSizeInBytes"`
	CPUCost           number `json:"cpuCost"`
	MaxMemory         number `json:"maxMemory"`
	NetworkCost       number `json:"networkCost"`
}

// number accepts JSON numbers and Trino's "NaN" / "Infinity" strings
// (unknown estimates), which become NaN.
type number float64

func (n *number) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err == nil {
		*n = number(f)
		return nil
	}
	*n = number(math.NaN())
	return nil
}

// parse turns the EXPLAIN IO document into policy input: totals over the
// input tables and the query's output; unknown values are left out.
func parse(doc string) (Estimate, error) {
	var p ioPlan
	if err := json.NewDecoder(bytes.NewReader([]byte(doc))).Decode(&p); err != nil {
		return nil, fmt.Errorf("EXPLAIN IO output: %w", err)
	}
	est := Estimate{"inputTables": len(p.Inputs)}
	var rows, size float64
	known := true
	for _, in := range p.Inputs {
		if math.IsNaN(float64(in.Estimate.OutputRowCount)) || math.IsNaN(float64(in.Estimate.OutputSizeInBytes)) {
			known = false
			continue
		}
		rows += float64(in.Estimate.OutputRowCount)
		size += float64(in.Estimate.OutputSizeInBytes)
	}
	if known {
		est["inputRows"], est["inputBytes"] = math.Round(rows), math.Round(size)
	}
	put := func(k string, v number) {
		if f := float64(v); !math.IsNaN(f) && !math.IsInf(f, 0) {
			est[k] = math.Round(f)
		}
	}
	put("outputRows", p.Estimate.OutputRowCount)
	put("outputBytes", p.Estimate.OutputSizeInBytes)
	put("cpuCost", p.Estimate.CPUCost)
	put("maxMemory", p.Estimate.MaxMemory)
	put("networkCost", p.Estimate.NetworkCost)
	return est, nil
}

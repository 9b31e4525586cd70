package coordinator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/trino"
)

// Session is the identity and context a statement runs with.
type Session struct {
	User    string // X-Trino-User; required (e.g. the user a gateway request came from)
	Source  string // X-Trino-Source; default the client's Source
	Catalog string // X-Trino-Catalog, when set
	Schema  string // X-Trino-Schema, when set
}

// Column is a result column.
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// Result is a finished statement's output. Numbers in Rows are
// json.Number, so no value loses precision.
type Result struct {
	QueryID string
	Columns []Column
	Rows    [][]any
}

// QueryError is a statement that Trino ran and failed (its QueryResults
// carried an error).
type QueryError struct {
	QueryID string
	trino.QueryError
}

func (e *QueryError) Error() string {
	return fmt.Sprintf("query %s failed: %s: %s", e.QueryID, e.ErrorName, e.Message)
}

// queryResults is the part of Trino's QueryResults that Execute reads.
type queryResults struct {
	ID      string            `json:"id"`
	NextURI string            `json:"nextUri"`
	Columns []Column          `json:"columns"`
	Data    [][]any           `json:"data"`
	Error   *trino.QueryError `json:"error"`
}

// parseQueryResults decodes one QueryResults page (numbers as
// json.Number). Trailing data is an error.
func parseQueryResults(b []byte) (*queryResults, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var r queryResults
	if err := dec.Decode(&r); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the document")
	}
	return &r, nil
}

const (
	// maxPages bounds the pages of one statement.
	maxPages = 1000
	// cancelTimeout bounds the DELETE that cancels an abandoned statement.
	cancelTimeout = time.Second
)

// Execute runs a statement to the end: POST /v1/statement with the SQL and
// the session's headers, then GET every nextUri until there is none. It is
// meant for small control statements (EXPLAIN, SHOW SESSION): the pages
// together are bounded by Options.MaxResponseBytes. When the context ends
// or a page fails after Trino registered the query, the last nextUri is
// DELETEd so the query does not run on unpolled. A failed query is a
// *QueryError.
func (cl *Client) Execute(ctx context.Context, baseURL, sql string, s Session) (*Result, error) {
	c := &call{method: http.MethodPost, base: baseURL, path: "/v1/statement"}
	if err := ValidIdentity(s.User); err != nil {
		return nil, c.errorf("session user: %w", err)
	}
	if strings.TrimSpace(sql) == "" {
		return nil, c.errorf("the statement is empty")
	}
	base, err := url.Parse(baseURL)
	if err != nil {
		return nil, c.errorf("%w", err)
	}
	hdr := http.Header{}
	hdr.Set(trino.HeaderUser, s.User)
	source := s.Source
	if source == "" {
		source = cl.o.Source
	}
	hdr.Set(trino.HeaderSource, source)
	post := hdr.Clone()
	if s.Catalog != "" {
		post.Set(trino.HeaderCatalog, s.Catalog)
	}
	if s.Schema != "" {
		post.Set(trino.HeaderSchema, s.Schema)
	}
	c.header, c.body = post, []byte(sql)

	res := &Result{}
	var total int64
	next := ""
	for page := 0; ; page++ {
		_, b, err := cl.do(ctx, c)
		var r *queryResults
		if err == nil {
			if total += int64(len(b)); total > cl.o.MaxResponseBytes {
				err = c.errorf("the results are larger than %d bytes", cl.o.MaxResponseBytes)
			} else if r, err = parseQueryResults(b); err != nil {
				err = c.errorf("decoding the answer: %w", err)
			}
		}
		if err == nil && r.Error != nil { // the query failed: nothing to cancel
			return nil, &QueryError{QueryID: r.ID, QueryError: *r.Error}
		}
		if err == nil && r.NextURI != "" {
			switch {
			case page+1 >= maxPages:
				err = c.errorf("more than %d pages", maxPages)
			default:
				err = sameOrigin(base, r.NextURI)
				if err != nil {
					err = c.errorf("%w", err)
				}
			}
		}
		if err != nil {
			switch {
			case next != "":
				cl.cancelStatement(ctx, c, next)
			case r != nil && trino.ValidQueryID(r.ID):
				// The first answer registered the query but its nextUri
				// cannot be followed: cancel it where it was registered.
				cl.cancelStatement(ctx, c, strings.TrimRight(baseURL, "/")+"/v1/query/"+r.ID)
			}
			return nil, err
		}
		if res.QueryID == "" {
			res.QueryID = r.ID
		}
		if res.Columns == nil {
			res.Columns = r.Columns
		}
		res.Rows = append(res.Rows, r.Data...)
		if r.NextURI == "" {
			return res, nil
		}
		next = r.NextURI
		c = &call{method: http.MethodGet, base: baseURL, path: pathOf(next), url: next, header: hdr}
	}
}

// sameOrigin refuses a nextUri that leaves the coordinator: the client's
// identity and credentials go only where it was asked to send them.
func sameOrigin(base *url.URL, next string) error {
	u, err := url.Parse(next)
	if err != nil {
		return fmt.Errorf("nextUri %q: %w", clip(next, 100), err)
	}
	if origin(u) != origin(base) {
		return fmt.Errorf("nextUri %q leaves the coordinator", clip(next, 100))
	}
	return nil
}

// origin is scheme://host:port with the scheme's default port filled in.
func origin(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[strings.ToLower(u.Scheme)]
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Hostname()) + ":" + port
}

// pathOf is the path of an absolute URI, for messages.
func pathOf(uri string) string {
	if u, err := url.Parse(uri); err == nil {
		return u.Path
	}
	return uri
}

// cancelStatement DELETEs a statement's nextUri (best effort, also when
// ctx has ended).
func (cl *Client) cancelStatement(ctx context.Context, last *call, next string) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cancelTimeout)
	defer cancel()
	hdr := last.header.Clone()
	hdr.Del(trino.HeaderCatalog)
	hdr.Del(trino.HeaderSchema)
	_, _, _ = cl.do(cctx, &call{method: http.MethodDelete, base: last.base, path: pathOf(next), url: next, header: hdr, any2xx: true})
}

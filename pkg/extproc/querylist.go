package extproc

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/switchyard-gw/switchyard/pkg/admission"
	"github.com/switchyard-gw/switchyard/pkg/fleetqueries"
	"github.com/switchyard-gw/switchyard/pkg/trino"
)

// QueryListPath is Trino's list of queries. Through the gateway it is the
// caller's own queries on every cluster of the fleet: a coordinator's
// list holds every user's SQL text, and the gateway must not hand one
// cluster's whole list to anyone who names a user. Operators see every
// query with `switchyard queries` (admin API).
const QueryListPath = "/v1/query"

// listedQuery is one entry: the fields of Trino's BasicQueryInfo that
// tools read, and where the query runs.
type listedQuery struct {
	QueryID   string        `json:"queryId"`
	State     string        `json:"state"`
	Query     string        `json:"query"`
	QueryType string        `json:"queryType,omitempty"`
	Session   listedSession `json:"session"`
	Cluster   string        `json:"cluster"`
	Created   string        `json:"created"`
	ElapsedMs int64         `json:"elapsedMs"`
	Error     string        `json:"errorCode,omitempty"`
}

type listedSession struct {
	User   string `json:"user"`
	Source string `json:"source,omitempty"`
}

// listProcessor answers GET /v1/query itself.
type listProcessor struct {
	s     *Server
	req   admission.Request
	label string
}

func (p *listProcessor) kind() trino.PathKind { return trino.PathOther }
func (p *listProcessor) outcome() string      { return p.label }

func (p *listProcessor) requestHeaders(ctx context.Context, _ *extprocv3.HttpHeaders) []*extprocv3.ProcessingResponse {
	p.label = "answered"
	user := p.req.Session.User
	if user == "" {
		p.label = "rejected"
		return one(immediate(admission.Response{Status: http.StatusBadRequest, ContentType: "application/json",
			Body: trino.ErrorDocument(trino.ErrBadRequest, "GET /v1/query needs a user (X-Trino-User): it lists the caller's own queries")}, "switchyard_bad_request"))
	}
	_, rawQuery := p.req.SplitPath()
	v := p.s.o.Queries(ctx, fleetqueries.Filter{User: user, State: queryParam(rawQuery, "state")})
	out := make([]listedQuery, 0, len(v.Queries))
	for _, q := range v.Queries {
		out = append(out, listedQuery{QueryID: q.QueryID, State: q.State, Query: q.Query, QueryType: q.QueryType,
			Session: listedSession{User: q.User, Source: q.Source}, Cluster: q.Cluster,
			Created: q.Created.UTC().Format("2006-01-02T15:04:05.000Z"), ElapsedMs: q.ElapsedMs, Error: q.Error})
	}
	b, err := json.Marshal(out)
	if err != nil {
		b = []byte("[]")
	}
	return one(immediate(admission.Response{Status: http.StatusOK, ContentType: "application/json", Body: b}, "switchyard_query_list"))
}

func (p *listProcessor) requestBody(context.Context, *extprocv3.HttpBody) []*extprocv3.ProcessingResponse {
	return nil
}

func (p *listProcessor) responseBody(context.Context, *extprocv3.HttpBody) []*extprocv3.ProcessingResponse {
	return one(responseBodyContinue)
}

// queryParam is one parameter of a query string ("" when absent or
// malformed).
func queryParam(rawQuery, name string) string {
	v, err := url.ParseQuery(rawQuery)
	if err != nil {
		return ""
	}
	return v.Get(name)
}

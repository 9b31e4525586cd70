package admission

import (
	"github.com/switchyard-gw/switchyard/pkg/trino"
)

// Action is what the gateway does with a request.
type Action int

// Actions.
const (
	// Pass: leave the request as it is; the route table already knows
	// where it goes (the gateway's own path prefix).
	Pass Action = iota
	// Route: send the request to Outcome.Target.
	Route
	// Reject: answer with a Trino-shaped error (Outcome.Error).
	Reject
	// Respond: answer the request directly (Outcome.Response), e.g. a
	// queued query's QueryResults.
	Respond
)

// Outcome is the decision about one request.
type Outcome struct {
	Action Action
	// Target is where Route sends the request, as the route table names
	// it: a cluster, "cluster/coordinator" (fleet.Key) or a weighted group
	// (fleet.WeightedTarget).
	Target string
	// Headers are set on the request to the coordinator (from the policy
	// or the external routing service; the gateway's own headers are never
	// among them).
	Headers []Header
	// AddedPrepare, with Route, is the X-Trino-Added-Prepare value the
	// answer carries to the client (a new client session's ID).
	AddedPrepare string
	// Error is why Reject refuses the request.
	Error *Rejection
	// Response is what Respond answers.
	Response *Response
}

// Header is one request header to set.
type Header struct{ Name, Value string }

// Rejection is a refusal with the Trino error the client reads.
type Rejection struct {
	Code    trino.ErrorCode
	Message string
	// QueryID names the query the request was about, if any; a refused
	// submission carries the gateway's decision ID instead.
	QueryID string
}

// Response is an answer the gateway gives itself.
type Response struct {
	Status      int
	ContentType string
	Body        []byte
	// Headers are further response headers (Location, Set-Cookie).
	Headers []Header
}

// Label names the outcome in metrics: passed, routed or rejected (and
// answered for Respond).
func (o Outcome) Label() string {
	switch o.Action {
	case Route:
		return "routed"
	case Reject:
		return "rejected"
	case Respond:
		return "answered"
	}
	return "passed"
}

func routeTo(target string) Outcome { return Outcome{Action: Route, Target: target} }

func reject(code trino.ErrorCode, msg, queryID string) Outcome {
	return Outcome{Action: Reject, Error: &Rejection{Code: code, Message: msg, QueryID: queryID}}
}

// Render is the HTTP answer a client reads for a rejection of req. On the
// statement protocol it is a FAILED QueryResults with HTTP 200, which every
// Trino client prints as "Query <id> failed: <message>" (a DELETE, whose
// answer no client reads as QueryResults, gets the JSON error document);
// elsewhere a JSON error document with the status that fits the error.
func (rj *Rejection) Render(req *Request) Response {
	info, _ := req.PathInfo()
	if info.Kind.IsStatement() && req.Method != "DELETE" {
		id := rj.QueryID
		if id == "" {
			id = req.ID()
		}
		return Response{Status: 200, ContentType: "application/json", Body: trino.FailedQueryResults(id, req.baseURL()+"/ui/", rj.Code, rj.Message)}
	}
	return Response{Status: HTTPStatus(rj.Code), ContentType: "application/json", Body: trino.ErrorDocument(rj.Code, rj.Message)}
}

// HTTPStatus is the status of a JSON error document for the code.
func HTTPStatus(code trino.ErrorCode) int {
	switch code {
	case trino.ErrQueryNotFound, trino.ErrMalformedQueryID, trino.ErrNoRoute:
		return 404
	case trino.ErrUnknownRoutingGroup, trino.ErrBadRequest, trino.ErrUnknownTransaction:
		return 400
	case trino.ErrPolicyDenied:
		return 403
	case trino.ErrQueryTextTooLarge:
		return 413
	case trino.ErrNoClusterAvailable, trino.ErrGatewayUnavailable:
		return 503
	}
	return 500
}

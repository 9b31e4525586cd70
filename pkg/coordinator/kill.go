package coordinator

import (
	"context"
	"errors"
	"net/http"
	"strings"
)

// maxReasonBytes bounds a kill reason (the user reads it in the error).
const maxReasonBytes = 4 << 10

// Kill fails a running or queued query with ADMINISTRATIVELY_KILLED
// (PUT /v1/query/{id}/killed, the reason as a text/plain body). The user
// who submitted it sees "Query killed. Message: <reason>", so the reason
// must say who killed it and why. A query that already finished (HTTP
// 409) is an error that errors.Is ErrQueryDone; one the coordinator does
// not know (410) errors.Is ErrQueryGone. The coordinator answers 202 and
// fails the query asynchronously.
func (cl *Client) Kill(ctx context.Context, baseURL, queryID, reason string) error {
	c := &call{method: http.MethodPut, base: baseURL, path: "/v1/query/{queryId}/killed",
		ok:       []int{http.StatusAccepted, http.StatusOK, http.StatusNoContent},
		classify: map[int]error{http.StatusConflict: ErrQueryDone, http.StatusGone: ErrQueryGone}}
	if err := checkQueryID(queryID); err != nil {
		return c.errorf("%w", err)
	}
	c.path = "/v1/query/" + queryID + "/killed"
	reason = strings.TrimSpace(reason)
	switch {
	case reason == "":
		return c.errorf("%w", errors.New("a kill needs a reason: the user sees it"))
	case len(reason) > maxReasonBytes:
		return c.errorf("%w", errors.New("the reason is longer than 4096 bytes"))
	}
	// Trino reads the body as the message verbatim: as text/plain, not as a
	// JSON string (which would keep its quotes).
	c.body, c.ctype = []byte(reason), "text/plain; charset=utf-8"
	_, _, err := cl.do(ctx, c)
	return err
}

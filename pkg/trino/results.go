package trino

import (
	"encoding/json"
	"fmt"
)

// SubmitResponse is the part of the first QueryResults (the answer to
// POST /v1/statement) that the gateway reads.
type SubmitResponse struct {
	ID      string `json:"id"`
	NextURI string `json:"nextUri"`
	InfoURI string `json:"infoUri"`
}

// ParseSubmitResponse reads the query ID and URIs from a QueryResults body.
func ParseSubmitResponse(body []byte) (SubmitResponse, error) {
	var r SubmitResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return r, fmt.Errorf("decoding QueryResults: %w", err)
	}
	if !ValidQueryID(r.ID) {
		return r, fmt.Errorf("QueryResults has no valid query ID (got %q)", r.ID)
	}
	return r, nil
}

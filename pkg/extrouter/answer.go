package extrouter

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	routerv1 "github.com/switchyard-gw/switchyard/proto/switchyard/router/v1"
)

// MaxAnswerBytes bounds the service's answer, over HTTP and gRPC alike; a
// larger one is refused (the call fails).
const MaxAnswerBytes = 1 << 20

// decodeHTTPAnswer reads the answer to the HTTP POST: a 200 with a JSON
// Response of at most MaxAnswerBytes, whose headers can be sent on.
func decodeHTTPAnswer(status int, body io.Reader) (*Response, error) {
	b, err := io.ReadAll(io.LimitReader(body, MaxAnswerBytes+1))
	if err != nil {
		return nil, fmt.Errorf("external router: %w", err)
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("external router answered HTTP %d: %.200s", status, b)
	}
	if len(b) > MaxAnswerBytes {
		return nil, fmt.Errorf("external router answer exceeds %d bytes", MaxAnswerBytes)
	}
	var out Response
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("external router answer: %w", err)
	}
	if err := out.check(); err != nil {
		return nil, err
	}
	return &out, nil
}

// fromProto maps the gRPC answer to a Response.
func fromProto(m *routerv1.RouteResponse) (*Response, error) {
	out := &Response{RoutingGroup: m.GetRoutingGroup(), Errors: m.GetErrors(), Headers: m.GetExternalHeaders()}
	if err := out.check(); err != nil {
		return nil, err
	}
	return out, nil
}

// check refuses an answer whose headers cannot go on the request to Trino:
// Envoy rejects a header mutation with an invalid name or value, which
// would fail the query instead of routing it without the answer.
func (r *Response) check() error {
	for k, v := range r.Headers {
		if !validHeaderName(k) {
			return fmt.Errorf("external router answer: header name %.64q is not a valid HTTP header name", k)
		}
		if !validHeaderValue(v) {
			return fmt.Errorf("external router answer: header %.64q has a value with control characters", k)
		}
	}
	return nil
}

// validHeaderName reports whether s is an HTTP field name (RFC 9110 token).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '!' || c == '#' || c == '$' || c == '%' || c == '&' || c == '\'' || c == '*' ||
			c == '+' || c == '-' || c == '.' || c == '^' || c == '_' || c == '`' || c == '|' || c == '~':
		default:
			return false
		}
	}
	return true
}

// validHeaderValue reports whether s is an HTTP field value: no control
// characters but horizontal tab (RFC 9110 field-value).
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

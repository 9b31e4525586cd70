// Package coordinator is Switchyard's one client for the REST APIs of Trino
// coordinators: node information (/v1/info, /v1/status, /metrics), the
// query list and details (/v1/query), kills, the worker list and node
// state (/v1/node, /v1/info/state) and statement execution
// (/v1/statement). It is configured once (identity, timeout, transport,
// credentials) and every subsystem that talks to a cluster uses it, as
// Prometheus' common/config HTTPClientConfig is the one client per remote
// system.
//
// Every method takes the coordinator's base URL (scheme://host:port, as
// the fleet has it). Errors name that URL, the endpoint and, for an answer
// other than the expected one, the HTTP status with a short excerpt of the
// body. Answers are size-limited and decoded strictly by type: a wrong type
// is an error, never a panic; unknown fields are ignored.
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
	"unicode"
	"unicode/utf8"

	"github.com/switchyard-gw/switchyard/pkg/trino"
)

// Defaults of Options.
const (
	DefaultUser             = "switchyard"
	DefaultSource           = "switchyard"
	DefaultTimeout          = 5 * time.Second
	DefaultMaxResponseBytes = 16 << 20
)

// Options configure a Client.
type Options struct {
	// User is the X-Trino-User of every request but statements, which carry
	// their own session (default "switchyard").
	User string
	// Source is the X-Trino-Source of those requests (default "switchyard").
	Source string
	// Timeout bounds each HTTP exchange, body included (default 5s). A
	// statement (Execute) makes several; the caller's context bounds it as
	// a whole.
	Timeout time.Duration
	// Transport carries the requests (default http.DefaultTransport). Tests
	// replace it; TLS toward clusters configures it.
	Transport http.RoundTripper
	// Authorize, when set, is called on every request after the Trino
	// headers are set, to add credentials (e.g. an Authorization header).
	// An error fails the call without sending the request.
	Authorize func(*http.Request) error
	// MaxResponseBytes bounds every answer (default 16 MiB); /v1/info
	// answers are bounded to 64 KiB.
	MaxResponseBytes int64
}

// Client talks to Trino coordinators. It is safe for concurrent use.
type Client struct {
	o    Options
	http *http.Client
}

// New returns a client with the defaults filled in.
func New(o Options) *Client {
	if o.User == "" {
		o.User = DefaultUser
	}
	if o.Source == "" {
		o.Source = DefaultSource
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Transport == nil {
		o.Transport = http.DefaultTransport
	}
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = DefaultMaxResponseBytes
	}
	return &Client{o: o, http: &http.Client{
		Transport: o.Transport,
		Timeout:   o.Timeout,
		// Trino's REST APIs do not redirect; following one would send the
		// identity and credentials elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// ValidIdentity checks a Trino user or source name: non-empty, at most
// 256 bytes of valid UTF-8, no spaces or control characters.
func ValidIdentity(s string) error {
	switch {
	case s == "":
		return errors.New("must not be empty")
	case len(s) > 256:
		return errors.New("must be at most 256 bytes")
	case !utf8.ValidString(s):
		return errors.New("must be valid UTF-8")
	}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return fmt.Errorf("must not contain spaces or control characters, got %q", s)
		}
	}
	return nil
}

// StatusError is an answer with an unexpected HTTP status.
type StatusError struct {
	BaseURL  string // the coordinator (or node) asked
	Endpoint string // method and path, e.g. "GET /v1/query"
	Status   int
	Body     string // the start of the answer, for the message
	// Err, when set, classifies the status (ErrQueryGone, ErrQueryDone);
	// errors.Is sees it.
	Err error

	role string // "coordinator" (default) or "node"
}

func (e *StatusError) Error() string {
	role := e.role
	if role == "" {
		role = "coordinator"
	}
	msg := fmt.Sprintf("%s %s: %s: HTTP %d", role, e.BaseURL, e.Endpoint, e.Status)
	if e.Err != nil {
		msg += " (" + e.Err.Error() + ")"
	}
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

func (e *StatusError) Unwrap() error { return e.Err }

// Errors that classify an answer (see StatusError.Err).
var (
	// ErrQueryGone: the coordinator does not know the query (never existed
	// or expired from its history), HTTP 410.
	ErrQueryGone = errors.New("the coordinator does not know the query")
	// ErrQueryDone: the query already finished, so it cannot be killed,
	// HTTP 409.
	ErrQueryDone = errors.New("the query has already finished")
)

// maxExcerpt bounds the body excerpt in error messages.
const maxExcerpt = 200

// excerpt makes a one-line, bounded, printable excerpt of a body.
func excerpt(b []byte) string {
	cut := len(b) > maxExcerpt
	if cut {
		b = b[:maxExcerpt]
	}
	s := strings.ToValidUTF8(string(b), "?")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if cut {
		s += "..."
	}
	return s
}

// call is one request to a coordinator.
type call struct {
	method   string
	base     string // the coordinator or node, for messages
	path     string // e.g. /v1/query (with the query string)
	url      string // default base+path
	body     []byte
	ctype    string
	limit    int64         // default Options.MaxResponseBytes
	ok       []int         // accepted statuses, default 200
	any2xx   bool          // accept every 2xx status
	role     string        // what base is, for messages: "coordinator" (default) or "node"
	classify map[int]error // statuses with a meaning
	header   http.Header   // replaces the client's identity headers when set
}

func (c *call) endpoint() string {
	p, _, _ := strings.Cut(c.path, "?")
	return c.method + " " + p
}

// errorf wraps err with the coordinator and the endpoint.
func (c *call) errorf(format string, args ...any) error {
	role := c.role
	if role == "" {
		role = "coordinator"
	}
	return fmt.Errorf("%s %s: %s: %w", role, c.base, c.endpoint(), fmt.Errorf(format, args...))
}

// do sends the request and returns the status and the body (read up to the
// limit; a longer body is an error).
func (cl *Client) do(ctx context.Context, c *call) (int, []byte, error) {
	u := c.url
	if u == "" {
		u = strings.TrimRight(c.base, "/") + c.path
	}
	var body io.Reader
	if c.body != nil {
		body = bytes.NewReader(c.body)
	}
	req, err := http.NewRequestWithContext(ctx, c.method, u, body)
	if err != nil {
		return 0, nil, c.errorf("%w", err)
	}
	if c.header != nil {
		req.Header = c.header.Clone()
	} else {
		req.Header.Set(trino.HeaderUser, cl.o.User)
		req.Header.Set(trino.HeaderSource, cl.o.Source)
	}
	if c.ctype != "" {
		req.Header.Set("Content-Type", c.ctype)
	}
	if cl.o.Authorize != nil {
		if err := cl.o.Authorize(req); err != nil {
			return 0, nil, c.errorf("credentials: %w", err)
		}
	}
	resp, err := cl.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) { // drop net/url's `Get "...": ` prefix: the message names the call already
			err = ue.Err
		}
		return 0, nil, c.errorf("%w", err)
	}
	defer resp.Body.Close()
	ok := c.ok
	if ok == nil {
		ok = []int{http.StatusOK}
	}
	accepted := c.any2xx && resp.StatusCode/100 == 2
	for _, s := range ok {
		accepted = accepted || resp.StatusCode == s
	}
	if !accepted { // read only what the excerpt shows
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxExcerpt+1))
		return resp.StatusCode, nil, &StatusError{BaseURL: c.base, Endpoint: c.endpoint(), Status: resp.StatusCode,
			Body: excerpt(b), Err: c.classify[resp.StatusCode], role: c.role}
	}
	limit := c.limit
	if limit <= 0 || limit > cl.o.MaxResponseBytes {
		limit = cl.o.MaxResponseBytes
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return resp.StatusCode, nil, c.errorf("reading the answer: %w", err)
	}
	if int64(len(b)) > limit {
		return resp.StatusCode, nil, c.errorf("the answer is larger than %d bytes", limit)
	}
	return resp.StatusCode, b, nil
}

// getJSON reads a JSON document into out.
func (cl *Client) getJSON(ctx context.Context, c *call, out any) error {
	_, b, err := cl.do(ctx, c)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return c.errorf("decoding the answer: %w", err)
	}
	return nil
}

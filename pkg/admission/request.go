package admission

import (
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"strings"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/store"
	"github.com/switchyard-gw/switchyard/pkg/trino"
)

// Request is one client request as the gateway sees it before deciding,
// whatever carried it (Envoy's ext_proc, a dry run, a test).
type Request struct {
	Method    string
	Path      string // with the query string, as sent
	Scheme    string // http or https (for URIs in error documents)
	Authority string // the gateway's address as the client used it
	// Session is what the Trino client headers say. Its User is the name
	// the client claims; a verified identity joins the Request when the
	// gateway authenticates clients.
	Session Session
	// Body is a submission's SQL text.
	Body []byte
	// Principal is the identity the gateway verified (empty: none; see
	// pkg/identity). When set, Session.User is the verified user the
	// request runs as: the principal, or the user it may impersonate.
	Principal string
	// AuthMethod is how the principal was verified ("password", "jwt").
	AuthMethod string

	id     string
	parsed bool // path and err hold the parsed Path
	path   trino.PathInfo
	err    error
}

// Session is what a client's Trino headers say about its session.
type Session struct {
	User          string
	Source        string
	ClientInfo    string
	Catalog       string
	Schema        string
	Transaction   string // X-Trino-Transaction-Id
	RoutingGroup  string // X-Trino-Routing-Group, trimmed
	RemoteAddress string // the client's address as Envoy saw it
	ClientTags    []string
	// Properties are the X-Trino-Session properties, URL-decoded.
	Properties map[string]string
	// TrinoHeaders are the other X-Trino-* headers as sent (for the
	// external routing service).
	TrinoHeaders map[string]string
	// Sent are all X-Trino-* headers in the order sent, repeats kept (a
	// read-only query is sent again with them if its coordinator dies),
	// without the gateway's own session entry.
	Sent []store.Header
	// ClientSession is the session the client named
	// (X-Trino-Client-Session, else X-External-Session-Id).
	ClientSession string
	// GatewaySession is the session ID the gateway handed out, as the
	// client sent it back (an X-Trino-Prepared-Statement entry).
	GatewaySession string
	// Prepared are the client's own prepared statements (name=sql items,
	// as sent): X-Trino-Prepared-Statement without the gateway's entry.
	Prepared []string
	// StripPrepared: the gateway's entry was sent; the request goes on
	// with Prepared alone, so no coordinator ever sees it.
	StripPrepared bool
	// Cookie is the Cookie header (the web UI's session).
	Cookie string
	// ContentType is the request's Content-Type.
	ContentType string
}

// SetHeader records one request header; name is lower case (HTTP/2 and
// Envoy deliver them so). Headers that say nothing about the session are
// ignored.
func (s *Session) SetHeader(name, value string) {
	switch name {
	case trino.HeaderPreparedStatement:
		id, found, rest := trino.SplitPrepared(value)
		if found {
			s.StripPrepared = true
			if id != "" {
				s.GatewaySession = id
			}
			if len(rest) == 0 {
				return // nothing of the client's own
			}
			value = strings.Join(rest, ",")
		}
		s.Prepared = append(s.Prepared, rest...)
	case trino.HeaderClientSession:
		s.ClientSession = strings.TrimSpace(value)
	case trino.HeaderExternalSession:
		if s.ClientSession == "" {
			s.ClientSession = strings.TrimSpace(value)
		}
		return
	case "cookie":
		if s.Cookie != "" {
			value = s.Cookie + "; " + value
		}
		s.Cookie = value
		return
	case "content-type":
		s.ContentType = value
		return
	}
	if strings.HasPrefix(name, "x-trino-") {
		s.Sent = append(s.Sent, store.Header{Name: name, Value: value})
	}
	switch name {
	case trino.HeaderUser:
		s.User = value
		return
	case trino.HeaderRoutingGroup:
		s.RoutingGroup = strings.TrimSpace(value)
		return
	case "x-forwarded-for":
		// Envoy (use_remote_address) appends the peer's address last.
		parts := strings.Split(value, ",")
		s.RemoteAddress = strings.TrimSpace(parts[len(parts)-1])
		return
	}
	if !strings.HasPrefix(name, "x-trino-") {
		return
	}
	if s.TrinoHeaders == nil {
		s.TrinoHeaders = map[string]string{}
	}
	s.TrinoHeaders[name] = value
	switch name {
	case trino.HeaderSource:
		s.Source = value
	case trino.HeaderClientInfo:
		s.ClientInfo = value
	case trino.HeaderCatalog:
		s.Catalog = value
	case trino.HeaderSchema:
		s.Schema = value
	case trino.HeaderTransactionID:
		s.Transaction = strings.TrimSpace(value)
	case trino.HeaderClientTags:
		for _, t := range strings.Split(value, ",") {
			if t = strings.TrimSpace(t); t != "" {
				s.ClientTags = append(s.ClientTags, t)
			}
		}
	case trino.HeaderSession:
		for _, kv := range strings.Split(value, ",") {
			name, val, ok := strings.Cut(strings.TrimSpace(kv), "=")
			if !ok || name == "" {
				continue
			}
			if u, err := url.QueryUnescape(val); err == nil {
				val = u
			}
			if s.Properties == nil {
				s.Properties = map[string]string{}
			}
			s.Properties[name] = val
		}
	}
}

// InTransaction reports whether the statement belongs to an open
// transaction, which only the coordinator that started it knows.
func (s *Session) InTransaction() bool {
	return s.Transaction != "" && !strings.EqualFold(s.Transaction, "NONE")
}

// ID is the gateway's ID of this request's decision, for logs, the
// decision log and error documents (made on first use).
func (r *Request) ID() string {
	if r.id == "" {
		r.id = newDecisionID()
	}
	return r.id
}

// SplitPath returns the path without the query string, and the query.
func (r *Request) SplitPath() (string, string) { return trino.SplitPathQuery(r.Path) }

// PathInfo is what the path says under the Trino protocol: its kind and
// the query it names, or the malformed query ID (parsed once).
func (r *Request) PathInfo() (trino.PathInfo, error) {
	if !r.parsed {
		r.path, r.err = trino.ParsePath(r.SplitPath())
		r.parsed = true
	}
	return r.path, r.err
}

// baseURL is the gateway's address as the client used it.
func (r *Request) baseURL() string {
	scheme := r.Scheme
	if scheme == "" {
		scheme = "http"
	}
	return scheme + "://" + r.Authority
}

func newDecisionID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "sy_" + time.Now().UTC().Format("20060102_150405") + "_" + hex.EncodeToString(b[:])
}

// SetVerified records the identity the gateway verified: the request runs
// as user, and what is sent again on its behalf (a queued submission, a
// resubmission) carries that user, not the header the client sent.
func (r *Request) SetVerified(principal, user, method string) {
	r.Principal, r.AuthMethod = principal, method
	r.Session.User = user
	if principal == "" {
		return
	}
	sent := r.Session.Sent[:0]
	for _, h := range r.Session.Sent {
		if h.Name != trino.HeaderUser {
			sent = append(sent, h)
		}
	}
	r.Session.Sent = append(sent, store.Header{Name: trino.HeaderUser, Value: user})
}

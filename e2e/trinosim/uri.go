package trinosim

import (
	"net/http"
	"strings"
)

// baseURI returns scheme://host[:port]{prefix}, the part that every URI of a
// response starts with, built from the forwarded headers like a Trino
// coordinator behind a proxy builds it:
//
//   - scheme from X-Forwarded-Proto, else https for TLS requests, else http;
//   - host from X-Forwarded-Host, else the Host header;
//   - port from X-Forwarded-Port when present (it replaces any port of the
//     host);
//   - X-Forwarded-Prefix inserted verbatim before /v1/..., except that a
//     missing leading slash is added and trailing slashes are dropped.
//
// Only the first value of a comma-separated list is used (the one the
// outermost proxy set). The result is not escaped; callers JSON-escape it.
func baseURI(r *http.Request) string {
	h := r.Header
	scheme := firstValue(h, "X-Forwarded-Proto")
	if scheme == "" {
		scheme = "http"
		if r.TLS != nil {
			scheme = "https"
		}
	}
	host := firstValue(h, "X-Forwarded-Host")
	if host == "" {
		host = r.Host
	}
	if host == "" {
		host = "localhost"
	}
	if port := firstValue(h, "X-Forwarded-Port"); port != "" {
		host = withPort(host, port)
	}
	prefix := strings.TrimRight(firstValue(h, "X-Forwarded-Prefix"), "/")
	if prefix != "" && prefix[0] != '/' {
		prefix = "/" + prefix
	}
	return scheme + "://" + host + prefix
}

// firstValue returns the first comma-separated element of the first value
// of header key (which must be in canonical form), trimmed.
func firstValue(h http.Header, key string) string {
	vs := h[key]
	if len(vs) == 0 {
		return ""
	}
	v := vs[0]
	if i := strings.IndexByte(v, ','); i >= 0 {
		v = v[:i]
	}
	return strings.TrimSpace(v)
}

// withPort replaces the port of host (name, IPv4, [IPv6] or bare IPv6) by
// port.
func withPort(host, port string) string {
	switch {
	case strings.HasPrefix(host, "["):
		if i := strings.IndexByte(host, ']'); i >= 0 {
			host = host[:i+1]
		}
	case strings.Count(host, ":") == 1:
		host = host[:strings.IndexByte(host, ':')]
	case strings.Count(host, ":") > 1:
		host = "[" + host + "]"
	}
	return host + ":" + port
}

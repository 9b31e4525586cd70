package trino

import (
	"fmt"
	"strings"
	"time"
)

// PathKind classifies a request path of the Trino HTTP API.
type PathKind int

// The path kinds the gateway distinguishes.
const (
	PathOther         PathKind = iota // no query ID in the path (/v1/info, UI assets, ...)
	PathSubmit                        // /v1/statement
	PathQueued                        // /v1/statement/queued/{id}/{slug}/{token}
	PathExecuting                     // /v1/statement/executing/{id}/{slug}/{token}
	PathPartialCancel                 // /v1/statement/executing/partialCancel/{id}/{stage}/{slug}/{token}
	PathQueryAPI                      // /v1/query/{id}[/...]
	PathUIQuery                       // /ui/api/query/{id}[/...] and /ui/query.html?{id}
)

var kindNames = [...]string{"other", "submit", "queued", "executing", "partialCancel", "queryAPI", "uiQuery"}

func (k PathKind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("PathKind(%d)", int(k))
}

// IsStatement reports whether the path belongs to the statement protocol
// (submission and its nextUri follow-ups), whose errors must be QueryResults.
func (k PathKind) IsStatement() bool {
	return k == PathSubmit || k == PathQueued || k == PathExecuting || k == PathPartialCancel
}

// PathInfo is what the gateway learns from a request path.
type PathInfo struct {
	Kind    PathKind
	QueryID string // empty for PathOther and PathSubmit
}

// MaxQueryIDLength bounds the query IDs the gateway accepts. Trino's own IDs
// are 27 characters; the bound only stops abuse.
const MaxQueryIDLength = 128

// QueryIDTime is when a coordinator created a query, read from its ID
// (YYYYMMDD_HHMMSS_NNNNN_xxxxx, UTC, to the second); false when the ID
// does not have that form.
func QueryIDTime(id string) (time.Time, bool) {
	if len(id) < 16 || id[8] != '_' || id[15] != '_' {
		return time.Time{}, false
	}
	t, err := time.Parse("20060102_150405", id[:15])
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

// ValidQueryID applies Trino's QueryId grammar: one or more of [a-z0-9_].
func ValidQueryID(id string) bool {
	if id == "" || len(id) > MaxQueryIDLength {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// MalformedQueryIDError is returned when a path that must carry a query ID
// carries something else.
type MalformedQueryIDError struct {
	Kind PathKind
	ID   string
}

func (e *MalformedQueryIDError) Error() string {
	id := e.ID
	if len(id) > 64 {
		id = id[:64] + "..."
	}
	if id == "" {
		return fmt.Sprintf("malformed %s path: the query ID is missing", e.Kind)
	}
	return fmt.Sprintf("malformed query ID %q in %s path: a Trino query ID has only the characters a-z, 0-9 and _", id, e.Kind)
}

// ParsePath classifies path (without the query string) and extracts the query
// ID. rawQuery is the URL query string, which carries the ID for
// /ui/query.html?{id}. A path of a query-bearing kind with a malformed ID
// returns a *MalformedQueryIDError together with the kind.
func ParsePath(path, rawQuery string) (PathInfo, error) {
	switch {
	case path == "/v1/statement":
		return PathInfo{Kind: PathSubmit}, nil
	case strings.HasPrefix(path, "/v1/statement/executing/partialCancel/"):
		return withID(PathPartialCancel, firstSegment(path[len("/v1/statement/executing/partialCancel/"):]))
	case strings.HasPrefix(path, "/v1/statement/queued/"):
		return withID(PathQueued, firstSegment(path[len("/v1/statement/queued/"):]))
	case strings.HasPrefix(path, "/v1/statement/executing/"):
		return withID(PathExecuting, firstSegment(path[len("/v1/statement/executing/"):]))
	case strings.HasPrefix(path, "/v1/statement/"):
		// Unknown statement sub-resource: treat as a follow-up whose ID is
		// missing, so the client gets a protocol error, not a random cluster.
		return PathInfo{Kind: PathExecuting}, &MalformedQueryIDError{Kind: PathExecuting}
	case strings.HasPrefix(path, "/v1/query/"):
		return withID(PathQueryAPI, firstSegment(path[len("/v1/query/"):]))
	case strings.HasPrefix(path, "/ui/api/query/"):
		return withID(PathUIQuery, firstSegment(path[len("/ui/api/query/"):]))
	case path == "/ui/query.html":
		id, _, _ := strings.Cut(rawQuery, "&")
		return withID(PathUIQuery, id)
	}
	return PathInfo{Kind: PathOther}, nil
}

func withID(kind PathKind, id string) (PathInfo, error) {
	if !ValidQueryID(id) {
		return PathInfo{Kind: kind}, &MalformedQueryIDError{Kind: kind, ID: id}
	}
	return PathInfo{Kind: kind, QueryID: id}, nil
}

func firstSegment(s string) string {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[:i]
	}
	return s
}

// SplitPathQuery splits a request target ("/a/b?x=y") into path and query.
func SplitPathQuery(target string) (path, rawQuery string) {
	path, rawQuery, _ = strings.Cut(target, "?")
	return path, rawQuery
}

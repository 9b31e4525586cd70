package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/switchyard-gw/switchyard/pkg/trino"
)

// Kind says which of Trino's query events an Event is.
type Kind string

// The query events Trino's HTTP event listener sends.
const (
	// Created is QueryCreatedEvent: the query was registered (QUEUED).
	Created Kind = "created"
	// Completed is QueryCompletedEvent: the query ended, with its
	// statistics and, if it failed, its failure.
	Completed Kind = "completed"
)

// MaxText bounds the query text and the failure message an Event keeps, in
// bytes (cut on a UTF-8 boundary).
const MaxText = 4 << 10

// Event is what the control plane keeps of one query event. Fields Trino
// did not send (or sent in an unexpected shape) are zero; statistics, end
// time and failure come only with Completed events.
type Event struct {
	Kind    Kind
	QueryID string
	State   string // metadata.queryState: QUEUED, FINISHED, FAILED, ...
	// Query is the SQL text, at most MaxText bytes; QueryTruncated says
	// whether it was cut.
	Query          string
	QueryTruncated bool

	User            string
	Principal       string
	Source          string
	ClientTags      []string
	ResourceGroupID []string // segments, e.g. ["global", "adhoc"]
	QueryType       string   // SELECT, INSERT, ...
	Catalog         string
	Schema          string
	ServerAddress   string
	ServerVersion   string
	Environment     string

	CreateTime         time.Time
	ExecutionStartTime time.Time
	EndTime            time.Time

	CPUTime             time.Duration
	WallTime            time.Duration
	QueuedTime          time.Duration
	PeakUserMemoryBytes int64
	PhysicalInputBytes  int64
	ProcessedInputBytes int64
	OutputRows          int64
	WrittenBytes        int64

	// The failure of a failed query (Completed events only).
	ErrorCode      int
	ErrorName      string // e.g. DIVISION_BY_ZERO
	ErrorType      string // USER_ERROR, INTERNAL_ERROR, ...
	FailureMessage string // at most MaxText bytes
}

// Failed reports whether the event reports a failed query.
func (e *Event) Failed() bool { return e.ErrorName != "" || e.State == "FAILED" }

// Parse errors. Every error Parse returns wraps one of them.
var (
	// ErrMalformed is a body that is not one JSON object.
	ErrMalformed = errors.New("malformed event")
	// ErrQueryID is an event without a valid metadata.queryId.
	ErrQueryID = errors.New("event without a valid query ID")
)

// wire is the part of a QueryCreatedEvent or QueryCompletedEvent (JSON of
// Trino 476's HTTP event listener) that Parse reads. Trino does not
// promise a stable format, so every field is read leniently: one of an
// unexpected type is left zero instead of failing the event.
type wire struct {
	CreateTime         jsonTime             `json:"createTime"`
	ExecutionStartTime jsonTime             `json:"executionStartTime"`
	EndTime            jsonTime             `json:"endTime"`
	Metadata           object[wireMetadata] `json:"metadata"`
	Context            object[wireContext]  `json:"context"`
	Statistics         object[wireStats]    `json:"statistics"`
	FailureInfo        object[wireFailure]  `json:"failureInfo"`
}

type wireMetadata struct {
	QueryID    jsonString `json:"queryId"`
	Query      jsonString `json:"query"`
	QueryState jsonString `json:"queryState"`
}

type wireContext struct {
	User            jsonString  `json:"user"`
	Principal       jsonString  `json:"principal"`
	Source          jsonString  `json:"source"`
	ClientTags      jsonStrings `json:"clientTags"`
	ResourceGroupID jsonStrings `json:"resourceGroupId"`
	QueryType       jsonString  `json:"queryType"`
	Catalog         jsonString  `json:"catalog"`
	Schema          jsonString  `json:"schema"`
	ServerAddress   jsonString  `json:"serverAddress"`
	ServerVersion   jsonString  `json:"serverVersion"`
	Environment     jsonString  `json:"environment"`
}

type wireStats struct {
	CPUTime             jsonSeconds `json:"cpuTime"`
	WallTime            jsonSeconds `json:"wallTime"`
	QueuedTime          jsonSeconds `json:"queuedTime"`
	PeakUserMemoryBytes jsonInt     `json:"peakUserMemoryBytes"`
	PhysicalInputBytes  jsonInt     `json:"physicalInputBytes"`
	ProcessedInputBytes jsonInt     `json:"processedInputBytes"`
	OutputRows          jsonInt     `json:"outputRows"`
	WrittenBytes        jsonInt     `json:"writtenBytes"`
}

type wireFailure struct {
	ErrorCode      object[wireErrorCode] `json:"errorCode"`
	FailureMessage jsonString            `json:"failureMessage"`
}

type wireErrorCode struct {
	Code jsonInt    `json:"code"`
	Name jsonString `json:"name"`
	Type jsonString `json:"type"`
}

// read fills w from one event, reading each member the way encoding/json
// would decode it into w (with the tags above) but in one pass (scan.go).
func (w *wire) read(body []byte) error {
	r := reader{b: body}
	return r.document(func(r *reader, k []byte) error {
		switch {
		case named(k, "createTime"):
			return r.leaf(&w.CreateTime)
		case named(k, "executionStartTime"):
			return r.leaf(&w.ExecutionStartTime)
		case named(k, "endTime"):
			return r.leaf(&w.EndTime)
		case named(k, "metadata"):
			return section(r, &w.Metadata, (*wireMetadata).member)
		case named(k, "context"):
			return section(r, &w.Context, (*wireContext).member)
		case named(k, "statistics"):
			return section(r, &w.Statistics, (*wireStats).member)
		case named(k, "failureInfo"):
			return section(r, &w.FailureInfo, (*wireFailure).member)
		}
		return nil
	})
}

func (m *wireMetadata) member(r *reader, k []byte) error {
	return r.field(k, leaf{"queryId", &m.QueryID}, leaf{"query", &m.Query}, leaf{"queryState", &m.QueryState})
}

func (c *wireContext) member(r *reader, k []byte) error {
	return r.field(k, leaf{"user", &c.User}, leaf{"principal", &c.Principal}, leaf{"source", &c.Source},
		leaf{"clientTags", &c.ClientTags}, leaf{"resourceGroupId", &c.ResourceGroupID},
		leaf{"queryType", &c.QueryType}, leaf{"catalog", &c.Catalog}, leaf{"schema", &c.Schema},
		leaf{"serverAddress", &c.ServerAddress}, leaf{"serverVersion", &c.ServerVersion},
		leaf{"environment", &c.Environment})
}

func (s *wireStats) member(r *reader, k []byte) error {
	return r.field(k, leaf{"cpuTime", &s.CPUTime}, leaf{"wallTime", &s.WallTime}, leaf{"queuedTime", &s.QueuedTime},
		leaf{"peakUserMemoryBytes", &s.PeakUserMemoryBytes}, leaf{"physicalInputBytes", &s.PhysicalInputBytes},
		leaf{"processedInputBytes", &s.ProcessedInputBytes}, leaf{"outputRows", &s.OutputRows},
		leaf{"writtenBytes", &s.WrittenBytes})
}

func (f *wireFailure) member(r *reader, k []byte) error {
	if named(k, "errorCode") {
		return section(r, &f.ErrorCode, (*wireErrorCode).member)
	}
	return r.field(k, leaf{"failureMessage", &f.FailureMessage})
}

func (e *wireErrorCode) member(r *reader, k []byte) error {
	return r.field(k, leaf{"code", &e.Code}, leaf{"name", &e.Name}, leaf{"type", &e.Type})
}

// Parse reads one event of Trino's HTTP event listener. Unknown fields are
// ignored. The event is Completed when it carries statistics or an end
// time (QueryCompletedEvent), otherwise Created. It is an error (wrapping
// ErrMalformed or ErrQueryID) when body is not a JSON object or has no
// metadata.queryId that is a Trino query ID.
func Parse(body []byte) (*Event, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%w: empty body", ErrMalformed)
	}
	if trimmed[0] != '{' {
		return nil, fmt.Errorf("%w: not a JSON object", ErrMalformed)
	}
	var w wire
	if err := w.read(trimmed); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return w.event()
}

// event is the Event w holds (an error wrapping ErrQueryID without a
// valid query ID).
func (w *wire) event() (*Event, error) {
	m, c, s, f := &w.Metadata.v, &w.Context.v, &w.Statistics.v, &w.FailureInfo.v
	id := string(m.QueryID)
	switch {
	case !w.Metadata.ok:
		return nil, fmt.Errorf("%w: no metadata object", ErrQueryID)
	case id == "":
		return nil, fmt.Errorf("%w: no metadata.queryId", ErrQueryID)
	case !trino.ValidQueryID(id):
		return nil, fmt.Errorf("%w: metadata.queryId %q is not a Trino query ID", ErrQueryID, clip(id, 64))
	}
	e := &Event{
		Kind:               Created,
		QueryID:            id,
		State:              string(m.QueryState),
		User:               string(c.User),
		Principal:          string(c.Principal),
		Source:             string(c.Source),
		ClientTags:         c.ClientTags,
		ResourceGroupID:    c.ResourceGroupID,
		QueryType:          string(c.QueryType),
		Catalog:            string(c.Catalog),
		Schema:             string(c.Schema),
		ServerAddress:      string(c.ServerAddress),
		ServerVersion:      string(c.ServerVersion),
		Environment:        string(c.Environment),
		CreateTime:         w.CreateTime.t,
		ExecutionStartTime: w.ExecutionStartTime.t,
		EndTime:            w.EndTime.t,
	}
	e.Query, e.QueryTruncated = truncate(string(m.Query), MaxText)
	if w.Statistics.ok || !e.EndTime.IsZero() {
		e.Kind = Completed
		e.CPUTime = time.Duration(s.CPUTime)
		e.WallTime = time.Duration(s.WallTime)
		e.QueuedTime = time.Duration(s.QueuedTime)
		e.PeakUserMemoryBytes = int64(s.PeakUserMemoryBytes)
		e.PhysicalInputBytes = int64(s.PhysicalInputBytes)
		e.ProcessedInputBytes = int64(s.ProcessedInputBytes)
		e.OutputRows = int64(s.OutputRows)
		e.WrittenBytes = int64(s.WrittenBytes)
	}
	if w.FailureInfo.ok {
		ec := &f.ErrorCode.v
		e.ErrorCode = int(ec.Code)
		e.ErrorName = string(ec.Name)
		e.ErrorType = string(ec.Type)
		e.FailureMessage, _ = truncate(string(f.FailureMessage), MaxText)
	}
	return e, nil
}

// truncate cuts s to at most n bytes on a UTF-8 boundary.
func truncate(s string, n int) (string, bool) {
	if len(s) <= n {
		return s, false
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i], true
}

// clip shortens s for an error message.
func clip(s string, n int) string {
	if t, cut := truncate(s, n); cut {
		return t + "..."
	}
	return s
}

// object is a JSON object read into T (section); anything else (null, a
// string, an array) leaves it zero with ok false.
type object[T any] struct {
	v  T
	ok bool
}

// jsonString is a JSON string; other values leave it empty.
type jsonString string

func (s *jsonString) UnmarshalJSON(b []byte) error {
	if v, ok := plainString(b); ok {
		*s = jsonString(v)
		return nil
	}
	var v string
	if len(b) > 0 && b[0] == '"' && json.Unmarshal(b, &v) == nil {
		*s = jsonString(v)
	}
	return nil
}

// plainString is a JSON string without escapes, control characters or
// invalid UTF-8 (nearly every string Trino sends), read without decoding.
func plainString(b []byte) (string, bool) {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return "", false
	}
	in := b[1 : len(b)-1]
	for _, c := range in {
		if c < 0x20 || c == '"' || c == '\\' {
			return "", false
		}
	}
	if !utf8.Valid(in) {
		return "", false
	}
	return string(in), true
}

// jsonStrings is a JSON array of strings (other elements are skipped) or
// a single string; other values leave it nil.
type jsonStrings []string

func (s *jsonStrings) UnmarshalJSON(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	switch b[0] {
	case '"':
		var v jsonString
		_ = v.UnmarshalJSON(b)
		*s = jsonStrings{string(v)}
	case '[':
		var raw []json.RawMessage
		if json.Unmarshal(b, &raw) != nil {
			return nil
		}
		out := make(jsonStrings, 0, len(raw))
		for _, r := range raw {
			var v string
			if len(r) > 0 && r[0] == '"' && json.Unmarshal(r, &v) == nil {
				out = append(out, v)
			}
		}
		*s = out
	}
	return nil
}

// jsonInt is a count: a JSON number (a fraction is cut, out-of-range
// values are clamped) or a string holding one; other values leave it 0.
type jsonInt int64

func (n *jsonInt) UnmarshalJSON(b []byte) error {
	f, ok := number(b)
	if !ok {
		return nil
	}
	switch {
	case math.IsNaN(f):
	case f >= math.MaxInt64:
		*n = math.MaxInt64
	case f <= math.MinInt64:
		*n = math.MinInt64
	default:
		*n = jsonInt(f)
	}
	return nil
}

// jsonSeconds is a duration. Trino 476 writes decimal seconds (0.085);
// Parse also takes a string of seconds, an airlift duration ("85.00ms")
// and an ISO-8601 one ("PT0.085S"). Negative or unreadable values leave
// it 0; huge ones are clamped.
type jsonSeconds time.Duration

func (d *jsonSeconds) UnmarshalJSON(b []byte) error {
	if f, ok := number(b); ok {
		switch {
		case math.IsNaN(f) || f <= 0:
		case f*1e9 >= math.MaxInt64:
			*d = math.MaxInt64
		default:
			*d = jsonSeconds(math.Round(f * 1e9))
		}
		return nil
	}
	var s jsonString
	_ = s.UnmarshalJSON(b)
	if v, err := trino.ParseDuration(string(s)); err == nil && v > 0 {
		*d = jsonSeconds(v)
	} else if iso, ok := strings.CutPrefix(string(s), "PT"); ok {
		if v, err := time.ParseDuration(strings.ToLower(iso)); err == nil && v > 0 {
			*d = jsonSeconds(v)
		}
	}
	return nil
}

// jsonTime is an instant: Trino 476 writes ISO-8601 in UTC
// ("2026-12-04T02:36:53.595Z"); Parse also takes a number of seconds
// since the epoch. Other values leave it zero.
type jsonTime struct{ t time.Time }

func (t *jsonTime) UnmarshalJSON(b []byte) error {
	if f, ok := number(b); ok {
		// Within years 1970-9999 (253402300800 s is year 10000).
		if f > 0 && f < 253402300800 {
			sec, frac := math.Modf(f)
			t.t = time.Unix(int64(sec), int64(math.Round(frac*1e9))).UTC()
		}
		return nil
	}
	var s jsonString
	_ = s.UnmarshalJSON(b)
	if v, err := time.Parse(time.RFC3339Nano, string(s)); err == nil {
		t.t = v
	}
	return nil
}

// number reads a JSON number, or a JSON string that holds a decimal
// number.
func number(b []byte) (float64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	if b[0] == '"' {
		var s string
		if json.Unmarshal(b, &s) != nil {
			return 0, false
		}
		b = []byte(strings.TrimSpace(s))
		if len(b) == 0 || (b[0] != '-' && (b[0] < '0' || b[0] > '9')) {
			return 0, false // not "NaN", "Inf" and the like
		}
	} else if b[0] != '-' && (b[0] < '0' || b[0] > '9') {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, false
	}
	return f, true
}

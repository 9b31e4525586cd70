package trinosim

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// maxSQLBytes bounds the statement text a POST may carry.
const maxSQLBytes = 1 << 20

// maxDataPages bounds how many distinct data pages are pre-rendered; longer
// queries reuse them cyclically.
const maxDataPages = 16

// Server is the simulated coordinator. It is an http.Handler and safe for
// concurrent use.
type Server struct {
	opts    Options
	suffix  string
	started time.Time
	nameHdr []string
	counter atomic.Uint64
	scanned atomic.Int64 // UnixNano of the last full sweep
	table   *table
	bufs    sync.Pool
	events  *emitter // nil: no events

	columns                                               []byte
	dataPages                                             [][]byte
	statsQueued, statsRunning, statsFinished, statsFailed []byte
	pageCap                                               int
}

// New returns a Server configured by opts (see Options for the defaults).
func New(opts Options) *Server {
	o := opts.withDefaults()
	s := &Server{
		opts:          o,
		suffix:        randomSuffix(),
		started:       o.Now(),
		table:         newTable(),
		columns:       columnsJSON(o.Columns),
		statsQueued:   statsJSON(stateQueued, true, false),
		statsRunning:  statsJSON(stateRunning, false, true),
		statsFinished: statsJSON(stateFinished, false, true),
		statsFailed:   statsJSON(stateFailed, false, false),
	}
	if o.Name != "" {
		s.nameHdr = []string{o.Name}
	}
	if o.EventsURL != "" {
		s.events = newEmitter(o)
		s.table.abandoned = s.abandoned
	}
	s.scanned.Store(s.started.UnixNano())
	n := min(o.Pages, maxDataPages)
	for p := 0; p < n; p++ {
		s.dataPages = append(s.dataPages, dataJSON(p, o.RowsPerPage, o.Columns))
	}
	s.pageCap = 1024 + len(s.columns) + len(s.dataPages[0]) + len(s.statsFinished)
	s.bufs.New = func() any {
		b := make([]byte, 0, s.pageCap)
		return &b
	}
	return s
}

// QueryCount expires what is past retention and returns the number of
// queries the server still holds (active and finished).
func (s *Server) QueryCount() int {
	return s.table.sweep(s.opts.Now(), s.opts.Retention, s.opts.MaxHistory)
}

// ServeHTTP answers one request of the Trino client protocol.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.nameHdr != nil {
		w.Header()["X-Trinosim-Name"] = s.nameHdr
	}
	if s.opts.Delay > 0 {
		// Read the body first: net/http notices a client that hangs up
		// (and cancels the request context) only once the body is read.
		if r.Body != nil && r.Body != http.NoBody {
			b, err := io.ReadAll(io.LimitReader(r.Body, maxSQLBytes+1))
			if err != nil {
				text(w, http.StatusBadRequest, "reading request body: "+err.Error())
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(b))
		}
		if !sleep(r, s.opts.Delay) {
			return // the client has gone
		}
	}
	if r.URL == nil {
		text(w, http.StatusBadRequest, "Bad Request")
		return
	}
	path := r.URL.Path
	switch {
	case path == "/v1/statement":
		s.submit(w, r)
	case strings.HasPrefix(path, "/v1/statement/queued/"):
		s.follow(w, r, true, path[len("/v1/statement/queued/"):])
	case strings.HasPrefix(path, "/v1/statement/executing/"):
		s.follow(w, r, false, path[len("/v1/statement/executing/"):])
	case path == "/v1/info":
		s.info(w, r)
	case path == "/v1/info/state":
		if allow(w, r, http.MethodGet) {
			writeJSON(w, http.StatusOK, []byte(`"ACTIVE"`))
		}
	case path == "/v1/query":
		s.queryList(w, r)
	case strings.HasPrefix(path, "/v1/query/"):
		s.queryOne(w, r, path[len("/v1/query/"):])
	case path == "/ui/query.html":
		if allow(w, r, http.MethodGet) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, "<!DOCTYPE html><title>trinosim</title><p>trinosim query page</p>\n")
		}
	default:
		text(w, http.StatusNotFound, "Not Found")
	}
}

// sleep waits d or until the request is cancelled; it reports whether the
// full delay elapsed.
func sleep(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

func (s *Server) submit(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, http.MethodPost) {
		return
	}
	user, ok := requireUser(w, r)
	if !ok {
		return
	}
	sql, err := readSQL(r)
	if err != nil {
		text(w, http.StatusRequestEntityTooLarge, err.Error())
		return
	}
	if strings.TrimSpace(sql) == "" {
		text(w, http.StatusBadRequest, "SQL statement is empty")
		return
	}
	now := s.opts.Now()
	s.maybeSweep(now)
	q := &query{
		slug:       newSlug(),
		sql:        storedSQL(sql),
		user:       user,
		state:      stateQueued,
		lastAccess: now,
		created:    now,
		fail:       s.opts.FailQuery != nil && s.opts.FailQuery(sql),
	}
	if s.events != nil {
		h := r.Header
		q.source, q.tags, q.host = h.Get("X-Trino-Source"), h.Get("X-Trino-Client-Tags"), r.Host
		q.catalog, q.schema = h.Get("X-Trino-Catalog"), h.Get("X-Trino-Schema")
	}
	inserted := false
	for range 16 { // the five-digit counter wraps; skip IDs still in use
		q.id = formatQueryID(now, s.counter.Add(1)-1, s.suffix)
		if s.table.insert(q) {
			inserted = true
			break
		}
	}
	if !inserted {
		text(w, http.StatusServiceUnavailable, "too many queries this second")
		return
	}
	s.created(q)
	s.writePage(w, r, q.id, q.slug, 0, nil)
}

// readSQL reads the statement text of a POST, at most maxSQLBytes.
func readSQL(r *http.Request) (string, error) {
	if r.Body == nil {
		return "", nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxSQLBytes+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxSQLBytes {
		return "", errSQLTooLarge
	}
	return string(b), nil
}

// maxStoredSQL bounds the statement text kept per query (shown by
// /v1/query), so that history memory stays bounded whatever clients send.
const maxStoredSQL = 64 << 10

// storedSQL returns the text kept for sql: all of it up to maxStoredSQL
// bytes, else its start and "...".
func storedSQL(sql string) string {
	if len(sql) <= maxStoredSQL {
		return sql
	}
	return sql[:maxStoredSQL] + "..."
}

type stringError string

func (e stringError) Error() string { return string(e) }

const errSQLTooLarge = stringError("Query text too large")

// maybeSweep drops abandoned queries once per retention period.
func (s *Server) maybeSweep(now time.Time) {
	last := s.scanned.Load()
	if now.UnixNano()-last < int64(s.opts.Retention) || !s.scanned.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	s.table.sweep(now, s.opts.Retention, s.opts.MaxHistory)
}

// follow answers GET (advance) and DELETE (cancel) on a nextUri; rest is
// "{queryId}/{slug}/{token}".
func (s *Server) follow(w http.ResponseWriter, r *http.Request, queued bool, rest string) {
	if r.Method != http.MethodGet && r.Method != http.MethodDelete {
		w.Header().Set("Allow", "GET, DELETE")
		text(w, http.StatusMethodNotAllowed, "Method Not Allowed")
		return
	}
	id, slug, token, ok := splitFollowPath(rest)
	if !ok {
		text(w, http.StatusNotFound, "Not Found")
		return
	}
	now := s.opts.Now()
	sh := s.table.shardFor(id)
	sh.mu.Lock()
	q := s.table.liveLocked(sh, id, now, s.opts.Retention)
	if q == nil || q.slug != slug {
		sh.mu.Unlock()
		text(w, http.StatusNotFound, "Query not found")
		return
	}
	q.lastAccess = now
	if r.Method == http.MethodDelete {
		finished := false
		if !q.done() {
			q.state, q.err, q.doneAt = stateFailed, &errCanceled, now
			finished = true
		}
		sh.mu.Unlock()
		if finished {
			s.completed(q)
			s.table.finished(q, now, now, s.opts.Retention, s.opts.MaxHistory)
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	status, finished := s.advanceLocked(q, queued, token, now)
	qerr := q.err
	sh.mu.Unlock()
	if finished {
		s.completed(q)
		s.table.finished(q, now, now, s.opts.Retention, s.opts.MaxHistory)
	}
	if status != http.StatusOK {
		text(w, status, http.StatusText(status))
		return
	}
	s.writePage(w, r, id, slug, token, qerr)
}

// advanceLocked applies Trino's token rules to a GET for token and moves
// the query on. It returns the HTTP status (200 means: render the page of
// token) and whether the query reached a final state now.
func (s *Server) advanceLocked(q *query, queued bool, token int64, now time.Time) (status int, finished bool) {
	if q.err != nil {
		return http.StatusOK, false // failed or cancelled: every GET says so
	}
	qp := int64(s.opts.QueuedPolls)
	last := qp + int64(s.opts.Pages)
	if token < 1 || token > last {
		return http.StatusGone, false
	}
	if (token <= qp) != queued {
		return http.StatusNotFound, false // a queued token on an executing URI or vice versa
	}
	switch token {
	case q.served: // a retry of the last request: same page
		return http.StatusOK, false
	case q.served + 1:
	default:
		return http.StatusGone, false
	}
	q.served = token
	switch {
	case token == qp && q.fail:
		q.state, q.err, q.started, q.doneAt = stateFailed, &errSyntax, now, now
		return http.StatusOK, true
	case token == qp:
		q.state, q.started = stateRunning, now
	case token == last:
		q.state, q.doneAt = stateFinished, now
		return http.StatusOK, true
	}
	return http.StatusOK, false
}

// splitFollowPath splits "{queryId}/{slug}/{token}".
func splitFollowPath(rest string) (id, slug string, token int64, ok bool) {
	id, rest, ok1 := strings.Cut(rest, "/")
	slug, tok, ok2 := strings.Cut(rest, "/")
	if !ok1 || !ok2 || id == "" || slug == "" || tok == "" || strings.IndexByte(tok, '/') >= 0 {
		return "", "", 0, false
	}
	for i := 0; i < len(tok); i++ {
		if tok[i] < '0' || tok[i] > '9' {
			return "", "", 0, false
		}
	}
	n, err := strconv.ParseInt(tok, 10, 64)
	if err != nil {
		return "", "", 0, false
	}
	return id, slug, n, true
}

// writePage renders the QueryResults of token (0 = the POST answer), or the
// FAILED results when qerr is set.
func (s *Server) writePage(w http.ResponseWriter, r *http.Request, id, slug string, token int64, qerr *queryError) {
	bp := s.bufs.Get().(*[]byte)
	b := s.appendPage((*bp)[:0], baseURI(r), id, slug, token, qerr)
	writeJSON(w, http.StatusOK, b)
	if cap(b) <= 4*s.pageCap {
		*bp = b
		s.bufs.Put(bp)
	}
}

func (s *Server) appendPage(b []byte, base, id, slug string, token int64, qerr *queryError) []byte {
	b = append(b, `{"id":"`...)
	b = append(b, id...)
	b = append(b, `","infoUri":"`...)
	b = appendJSONEscaped(b, base)
	b = append(b, "/ui/query.html?"...)
	b = append(b, id...)
	b = append(b, '"')
	if qerr != nil {
		b = append(b, `,"stats":`...)
		b = append(b, s.statsFailed...)
		b = append(b, `,"error":`...)
		b = qerr.appendJSON(b)
		return append(b, `,"warnings":[]}`...)
	}
	qp := int64(s.opts.QueuedPolls)
	nextURI := func(b []byte, kind string) []byte {
		b = append(b, `,"nextUri":"`...)
		b = appendJSONEscaped(b, base)
		b = append(b, "/v1/statement/"...)
		b = append(b, kind...)
		b = append(b, '/')
		b = append(b, id...)
		b = append(b, '/')
		b = append(b, slug...)
		b = append(b, '/')
		b = strconv.AppendInt(b, token+1, 10)
		return append(b, '"')
	}
	switch {
	case token < qp:
		b = nextURI(b, "queued")
		b = append(b, `,"stats":`...)
		b = append(b, s.statsQueued...)
	case token == qp:
		b = nextURI(b, "executing")
		b = append(b, `,"columns":`...)
		b = append(b, s.columns...)
		b = append(b, `,"stats":`...)
		b = append(b, s.statsRunning...)
	default:
		page := int(token - qp - 1)
		lastPage := page == s.opts.Pages-1
		if !lastPage {
			b = nextURI(b, "executing")
		}
		b = append(b, `,"columns":`...)
		b = append(b, s.columns...)
		b = append(b, `,"data":`...)
		b = append(b, s.dataPages[page%len(s.dataPages)]...)
		b = append(b, `,"stats":`...)
		if lastPage {
			b = append(b, s.statsFinished...)
		} else {
			b = append(b, s.statsRunning...)
		}
	}
	return append(b, `,"warnings":[]}`...)
}

func (s *Server) info(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, http.MethodGet) {
		return
	}
	up := s.opts.Now().Sub(s.started).Minutes()
	b := []byte(`{"nodeVersion":{"version":"476-sim"},"environment":"sim","coordinator":true,"starting":false,"uptime":"`)
	b = strconv.AppendFloat(b, up, 'f', 2, 64)
	b = append(b, `m"}`...)
	writeJSON(w, http.StatusOK, b)
}

func (s *Server) queryList(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, http.MethodGet) {
		return
	}
	if _, ok := requireUser(w, r); !ok {
		return
	}
	list := s.table.list(s.opts.Now(), s.opts.Retention)
	sort.Slice(list, func(i, j int) bool { return list[i].QueryID < list[j].QueryID })
	b, err := json.Marshal(list)
	if err != nil {
		text(w, http.StatusInternalServerError, "encoding query list: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, b)
}

// queryOne answers GET /v1/query/{id} (the query's info, or 410 Gone like
// Trino) and DELETE /v1/query/{id} (cancel).
func (s *Server) queryOne(w http.ResponseWriter, r *http.Request, id string) {
	if r.Method != http.MethodGet && r.Method != http.MethodDelete {
		w.Header().Set("Allow", "GET, DELETE")
		text(w, http.StatusMethodNotAllowed, "Method Not Allowed")
		return
	}
	if _, ok := requireUser(w, r); !ok {
		return
	}
	now := s.opts.Now()
	sh := s.table.shardFor(id)
	sh.mu.Lock()
	q := s.table.liveLocked(sh, id, now, s.opts.Retention)
	if q == nil {
		sh.mu.Unlock()
		text(w, http.StatusGone, "Query not found")
		return
	}
	if r.Method == http.MethodDelete {
		finished := false
		if !q.done() {
			q.state, q.err, q.doneAt, q.lastAccess = stateFailed, &errCanceled, now, now
			finished = true
		}
		sh.mu.Unlock()
		if finished {
			s.completed(q)
			s.table.finished(q, now, now, s.opts.Retention, s.opts.MaxHistory)
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	qi := q.infoLocked()
	sh.mu.Unlock()
	b, err := json.Marshal(qi)
	if err != nil {
		text(w, http.StatusInternalServerError, "encoding query info: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, b)
}

// requireUser returns X-Trino-User or answers 401 like Trino does when no
// authentication is configured and the header is missing.
func requireUser(w http.ResponseWriter, r *http.Request) (string, bool) {
	if u := r.Header.Get("X-Trino-User"); u != "" {
		return u, true
	}
	w.Header().Set("WWW-Authenticate", `Basic realm="Trino"`)
	text(w, http.StatusUnauthorized, "Basic authentication or X-Trino-User must be sent")
	return "", false
}

// allow answers 405 unless the request uses method.
func allow(w http.ResponseWriter, r *http.Request, method string) bool {
	if r.Method == method {
		return true
	}
	w.Header().Set("Allow", method)
	text(w, http.StatusMethodNotAllowed, "Method Not Allowed")
	return false
}

var (
	jsonContentType = []string{"application/json"}
	textContentType = []string{"text/plain; charset=utf-8"}
)

func writeJSON(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func text(w http.ResponseWriter, status int, msg string) {
	h := w.Header()
	h["Content-Type"] = textContentType
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg+"\n")
}

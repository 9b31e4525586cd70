package trinosim

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// EventSecretHeader carries Options.EventSecret with every event: the
// header the gateway's ingest endpoint reads (pkg/events.SecretHeader),
// which Trino's listener sends through http-event-listener.connect-http-headers.
const EventSecretHeader = "X-Switchyard-Event-Secret"

// The defaults of the event options.
const (
	DefaultEventQueue   = 10000
	DefaultEventWorkers = 4
)

// EventStats counts the query events of a Server.
type EventStats struct {
	// Posted events were answered 2xx by the ingest URL.
	Posted int64 `json:"posted"`
	// Failed events got another answer or no answer (they are not sent
	// again, like Trino's listener with connect-retry-count 0).
	Failed int64 `json:"failed"`
	// Dropped events found the queue full (or the server closed).
	Dropped int64 `json:"dropped"`
}

// simEvent is what an event reports of a query, copied when it is emitted
// (the worker never reads the live query).
type simEvent struct {
	completed                    bool
	id, sql, user                string
	source, tags, catalog        string
	schema, host                 string
	state                        string
	err                          *queryError
	created, started, ended      time.Time
	outputRows, scannedBytes     int64
	outputBytes, peakMemoryBytes int64
}

// emitter posts query events to the ingest URL from a bounded queue, so
// the protocol path never waits for them.
type emitter struct {
	url, secret string
	client      *http.Client
	ch          chan *simEvent
	done        chan struct{}
	ctx         context.Context
	cancel      context.CancelFunc
	wg          sync.WaitGroup
	closing     atomic.Bool
	closeOnce   sync.Once

	posted, failed, dropped atomic.Int64
}

func newEmitter(o Options) *emitter {
	ctx, cancel := context.WithCancel(context.Background())
	e := &emitter{
		url: o.EventsURL, secret: o.EventSecret, client: o.EventClient,
		ch: make(chan *simEvent, o.EventQueue), done: make(chan struct{}),
		ctx: ctx, cancel: cancel,
	}
	if e.client == nil {
		e.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			MaxIdleConnsPerHost: o.EventWorkers, IdleConnTimeout: 90 * time.Second}}
	}
	for range o.EventWorkers {
		e.wg.Go(e.work)
	}
	return e
}

// emit queues ev, or drops and counts it when the queue is full. It never
// blocks.
func (e *emitter) emit(ev *simEvent) {
	if e.closing.Load() {
		e.dropped.Add(1)
		return
	}
	select {
	case e.ch <- ev:
	default:
		e.dropped.Add(1)
	}
}

func (e *emitter) work() {
	var buf bytes.Buffer
	for {
		select {
		case ev := <-e.ch:
			e.post(&buf, ev)
		case <-e.done:
			for { // send what is queued, then stop
				select {
				case ev := <-e.ch:
					e.post(&buf, ev)
				default:
					return
				}
			}
		}
	}
}

func (e *emitter) post(buf *bytes.Buffer, ev *simEvent) {
	buf.Reset()
	if err := json.NewEncoder(buf).Encode(ev.wire()); err != nil {
		e.failed.Add(1)
		return
	}
	req, err := http.NewRequestWithContext(e.ctx, http.MethodPost, e.url, bytes.NewReader(buf.Bytes()))
	if err != nil {
		e.failed.Add(1)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	if e.secret != "" {
		req.Header.Set(EventSecretHeader, e.secret)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.failed.Add(1)
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		e.failed.Add(1)
		return
	}
	e.posted.Add(1)
}

// close stops taking events and sends the queued ones until ctx ends
// (then the posts in flight are cut short and the rest is dropped).
func (e *emitter) close(ctx context.Context) error {
	e.closeOnce.Do(func() {
		e.closing.Store(true)
		close(e.done)
	})
	finished := make(chan struct{})
	go func() {
		e.wg.Wait()
		close(finished)
	}()
	select {
	case <-finished:
		e.cancel()
		return nil
	case <-ctx.Done():
		e.cancel()
		<-finished
		for { // what the workers left behind
			select {
			case <-e.ch:
				e.dropped.Add(1)
			default:
				return ctx.Err()
			}
		}
	}
}

func (e *emitter) stats() EventStats {
	return EventStats{Posted: e.posted.Load(), Failed: e.failed.Load(), Dropped: e.dropped.Load()}
}

// EventStats counts the query events posted, failed and dropped (zero
// without Options.EventsURL).
func (s *Server) EventStats() EventStats {
	if s.events == nil {
		return EventStats{}
	}
	return s.events.stats()
}

// Close sends the query events still queued (until ctx ends) and stops
// the event workers. Without Options.EventsURL it does nothing. The
// server keeps answering requests; events of later completions are
// dropped.
func (s *Server) Close(ctx context.Context) error {
	if s.events == nil {
		return nil
	}
	return s.events.close(ctx)
}

// created emits the QueryCreatedEvent of a query just registered (only
// with Options.EventsCreated).
func (s *Server) created(q *query) {
	if s.events == nil || !s.opts.EventsCreated {
		return
	}
	ev := s.snapshot(q, q.created)
	ev.state = stateQueued
	s.events.emit(ev)
}

// completed emits the QueryCompletedEvent of a query that reached its
// final state (call after setting it; the final fields do not change).
func (s *Server) completed(q *query) {
	if s.events == nil {
		return
	}
	ev := s.snapshot(q, q.doneAt)
	ev.completed, ev.state, ev.err = true, q.state, q.err
	if q.state == stateFinished {
		rows := int64(s.opts.Pages) * int64(s.opts.RowsPerPage)
		ev.outputRows = rows
		ev.outputBytes = rows * int64(s.opts.Columns) * 8
		ev.scannedBytes = ev.outputBytes
		ev.peakMemoryBytes = int64(len(s.dataPages[0]))
	}
	s.events.emit(ev)
}

// abandoned emits the completion of a query dropped because no client
// polled it for the retention (Trino fails it with ABANDONED_QUERY). The
// caller holds the query's shard lock.
func (s *Server) abandoned(q *query, now time.Time) {
	ev := s.snapshot(q, now)
	ev.completed, ev.state, ev.err = true, stateFailed, &errAbandoned
	s.events.emit(ev)
}

func (s *Server) snapshot(q *query, ended time.Time) *simEvent {
	return &simEvent{
		id: q.id, sql: q.sql, user: q.user, source: q.source, tags: q.tags, catalog: q.catalog, schema: q.schema, host: q.host,
		created: q.created, started: q.started, ended: ended,
	}
}

// The JSON of Trino 476's HTTP event listener: QueryCreatedEvent and
// QueryCompletedEvent with the fields a small query has (no plan, no
// operator summaries).
type wireEvent struct {
	CreateTime         string       `json:"createTime"`
	Context            wireContext  `json:"context"`
	Metadata           wireMetadata `json:"metadata"`
	Statistics         *wireStats   `json:"statistics,omitempty"`
	IOMetadata         *wireIO      `json:"ioMetadata,omitempty"`
	FailureInfo        *wireFailure `json:"failureInfo,omitempty"`
	Warnings           []any        `json:"warnings,omitempty"`
	ExecutionStartTime string       `json:"executionStartTime,omitempty"`
	EndTime            string       `json:"endTime,omitempty"`
}

type wireMetadata struct {
	QueryID       string `json:"queryId"`
	TransactionID string `json:"transactionId,omitempty"`
	Query         string `json:"query"`
	QueryState    string `json:"queryState"`
	Tables        []any  `json:"tables"`
	Routines      []any  `json:"routines"`
	URI           string `json:"uri"`
}

type wireContext struct {
	User               string            `json:"user"`
	OriginalUser       string            `json:"originalUser"`
	OriginalRoles      []string          `json:"originalRoles"`
	Principal          string            `json:"principal,omitempty"`
	EnabledRoles       []string          `json:"enabledRoles"`
	Groups             []string          `json:"groups"`
	ClientTags         []string          `json:"clientTags"`
	ClientCapabilities []string          `json:"clientCapabilities"`
	Source             string            `json:"source,omitempty"`
	Timezone           string            `json:"timezone"`
	Catalog            string            `json:"catalog,omitempty"`
	Schema             string            `json:"schema,omitempty"`
	ResourceGroupID    []string          `json:"resourceGroupId"`
	SessionProperties  map[string]string `json:"sessionProperties"`
	ResourceEstimates  map[string]string `json:"resourceEstimates"`
	ServerAddress      string            `json:"serverAddress"`
	ServerVersion      string            `json:"serverVersion"`
	Environment        string            `json:"environment"`
	QueryType          string            `json:"queryType,omitempty"`
	RetryPolicy        string            `json:"retryPolicy"`
}

type wireStats struct {
	CPUTime              seconds `json:"cpuTime"`
	FailedCPUTime        seconds `json:"failedCpuTime"`
	WallTime             seconds `json:"wallTime"`
	QueuedTime           seconds `json:"queuedTime"`
	PeakUserMemoryBytes  int64   `json:"peakUserMemoryBytes"`
	PeakTaskUserMemory   int64   `json:"peakTaskUserMemory"`
	PeakTaskTotalMemory  int64   `json:"peakTaskTotalMemory"`
	PhysicalInputBytes   int64   `json:"physicalInputBytes"`
	PhysicalInputRows    int64   `json:"physicalInputRows"`
	ProcessedInputBytes  int64   `json:"processedInputBytes"`
	ProcessedInputRows   int64   `json:"processedInputRows"`
	InternalNetworkBytes int64   `json:"internalNetworkBytes"`
	InternalNetworkRows  int64   `json:"internalNetworkRows"`
	TotalBytes           int64   `json:"totalBytes"`
	TotalRows            int64   `json:"totalRows"`
	OutputBytes          int64   `json:"outputBytes"`
	OutputRows           int64   `json:"outputRows"`
	WrittenBytes         int64   `json:"writtenBytes"`
	WrittenRows          int64   `json:"writtenRows"`
	SpilledBytes         int64   `json:"spilledBytes"`
	CumulativeMemory     float64 `json:"cumulativeMemory"`
	FailedCumulative     float64 `json:"failedCumulativeMemory"`
	StageGcStatistics    []any   `json:"stageGcStatistics"`
	CompletedSplits      int     `json:"completedSplits"`
	Complete             bool    `json:"complete"`
	CPUTimeDistribution  []any   `json:"cpuTimeDistribution"`
	OperatorSummaries    []any   `json:"operatorSummaries"`
}

type wireIO struct {
	Inputs []any `json:"inputs"`
}

type wireFailure struct {
	ErrorCode      wireErrorCode `json:"errorCode"`
	FailureType    string        `json:"failureType"`
	FailureMessage string        `json:"failureMessage"`
}

type wireErrorCode struct {
	Code  int    `json:"code"`
	Name  string `json:"name"`
	Type  string `json:"type"`
	Fatal bool   `json:"fatal"`
}

// seconds is a duration as Trino's listener writes it: decimal seconds
// (0.085), to the millisecond.
type seconds float64

func secondsOf(d time.Duration) seconds {
	if d < 0 {
		return 0
	}
	return seconds(math.Round(d.Seconds()*1000) / 1000)
}

// eventTime is Trino's instant format: ISO-8601 in UTC, milliseconds.
func eventTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

func (ev *simEvent) wire() *wireEvent {
	w := &wireEvent{
		CreateTime: eventTime(ev.created),
		Context: wireContext{
			User: ev.user, OriginalUser: ev.user, Principal: ev.user,
			OriginalRoles: []string{}, EnabledRoles: []string{}, Groups: []string{},
			ClientTags: splitTags(ev.tags), ClientCapabilities: []string{},
			Source: ev.source, Timezone: "UTC", Catalog: ev.catalog, Schema: ev.schema,
			ResourceGroupID: []string{"global"}, SessionProperties: map[string]string{}, ResourceEstimates: map[string]string{},
			ServerAddress: serverAddress(ev.host), ServerVersion: "476", Environment: "sim",
			QueryType: queryType(ev.sql), RetryPolicy: "NONE",
		},
		Metadata: wireMetadata{
			QueryID: ev.id, TransactionID: pseudoUUID(), Query: ev.sql, QueryState: ev.state,
			Tables: []any{}, Routines: []any{}, URI: "http://" + ev.host + "/v1/query/" + ev.id,
		},
	}
	if !ev.completed {
		return w
	}
	started := ev.started
	if started.IsZero() { // ended before it was dispatched
		started = ev.ended
	}
	exec := ev.ended.Sub(started)
	cpu := exec
	if ev.err != nil {
		cpu = 0
	}
	w.Statistics = &wireStats{
		CPUTime: secondsOf(cpu), WallTime: secondsOf(ev.ended.Sub(ev.created)), QueuedTime: secondsOf(started.Sub(ev.created)),
		PeakUserMemoryBytes: ev.peakMemoryBytes, PeakTaskUserMemory: ev.peakMemoryBytes, PeakTaskTotalMemory: ev.peakMemoryBytes,
		PhysicalInputBytes: ev.scannedBytes, PhysicalInputRows: ev.outputRows,
		ProcessedInputBytes: ev.scannedBytes, ProcessedInputRows: ev.outputRows,
		TotalRows: ev.outputRows, OutputBytes: ev.outputBytes, OutputRows: ev.outputRows,
		StageGcStatistics: []any{}, Complete: true, CPUTimeDistribution: []any{}, OperatorSummaries: []any{},
	}
	w.IOMetadata = &wireIO{Inputs: []any{}}
	w.Warnings = []any{}
	w.ExecutionStartTime = eventTime(started)
	w.EndTime = eventTime(ev.ended)
	if e := ev.err; e != nil {
		w.FailureInfo = &wireFailure{
			ErrorCode:   wireErrorCode{Code: e.code, Name: e.name, Type: e.typ, Fatal: true},
			FailureType: "io.trino.spi.TrinoException", FailureMessage: e.message,
		}
	}
	return w
}

func splitTags(h string) []string {
	out := []string{}
	for _, t := range strings.Split(h, ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// serverAddress is the host part of the address the query came in on.
func serverAddress(host string) string {
	if i := strings.LastIndexByte(host, ':'); i > 0 && !strings.HasSuffix(host, "]") {
		host = host[:i]
	}
	return strings.Trim(host, "[]")
}

// queryType is Trino's QueryType of a statement, from its first keyword.
func queryType(sql string) string {
	s := strings.TrimLeft(sql, " \t\r\n(")
	end := strings.IndexFunc(s, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') })
	if end >= 0 {
		s = s[:end]
	}
	switch strings.ToUpper(s) {
	case "SELECT", "WITH", "VALUES", "TABLE", "SHOW":
		return "SELECT"
	case "EXPLAIN":
		return "EXPLAIN"
	case "DESCRIBE":
		return "DESCRIBE"
	case "INSERT":
		return "INSERT"
	case "UPDATE":
		return "UPDATE"
	case "DELETE":
		return "DELETE"
	case "MERGE":
		return "MERGE"
	case "ANALYZE":
		return "ANALYZE"
	case "CREATE", "DROP", "ALTER", "GRANT", "REVOKE", "COMMENT", "SET", "RESET", "USE", "CALL", "PREPARE", "DEALLOCATE", "START", "COMMIT", "ROLLBACK":
		return "DATA_DEFINITION"
	}
	return ""
}

func pseudoUUID() string {
	const hex = "0123456789abcdef"
	b := make([]byte, 36)
	hi, lo := rand.Uint64(), rand.Uint64()
	j := 0
	for i := range b {
		switch i {
		case 8, 13, 18, 23:
			b[i] = '-'
			continue
		}
		var n uint64
		if j < 16 {
			n = hi >> (4 * j) & 0xf
		} else {
			n = lo >> (4 * (j - 16)) & 0xf
		}
		b[i] = hex[n]
		j++
	}
	return string(b)
}

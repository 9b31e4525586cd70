package loadgen

import (
	"maps"
	"sync"
	"sync/atomic"
	"time"
)

// Request kinds, the keys of Results.Latency.
const (
	KindSubmit = "submit" // the POST to /v1/statement
	KindPoll   = "poll"   // each GET on a nextUri (every attempt, retries included)
	KindQuery  = "query"  // a whole successful query, POST to last page
	// KindSubmitUpstream is the coordinator's share of a submission as
	// Envoy's router measured it (x-envoy-upstream-service-time, whole
	// milliseconds); only answers that carry the header count.
	KindSubmitUpstream = "submit_upstream"
)

// Error kinds, the keys of Results.Errors (besides "http_NNN" for an HTTP
// status and "trino_NAME" for a Trino error name).
const (
	ErrTransport = "transport" // the request failed without a response (refused, reset, timeout)
	ErrProtocol  = "protocol"  // bad JSON, a missing query ID, a bad nextUri, an oversized body
)

// Results is the outcome of a run, restricted to the measured window.
type Results struct {
	// Mode is "closed" or "open".
	Mode        string  `json:"mode"`
	Concurrency int     `json:"concurrency,omitempty"`
	Rate        float64 `json:"rate,omitempty"`
	MaxInFlight int     `json:"max_in_flight,omitempty"`

	// WarmupSeconds is the configured warm-up; WindowSeconds the measured
	// window actually run (from the end of warm-up to the end of the run).
	WarmupSeconds float64 `json:"warmup_s"`
	WindowSeconds float64 `json:"window_s"`

	// Queries is the number of measured queries started; each ended as
	// Completed, Failed or Aborted (still running when the run ended).
	Queries   int64 `json:"queries"`
	Completed int64 `json:"completed"`
	Failed    int64 `json:"failed"`
	Aborted   int64 `json:"aborted"`
	// Dropped counts open-loop starts skipped because MaxInFlight queries
	// were running.
	Dropped int64 `json:"dropped"`
	// WarmupQueries counts the queries started during warm-up (excluded
	// from every other figure).
	WarmupQueries int64 `json:"warmup_queries"`

	// Requests counts the HTTP requests of measured queries that got an
	// answer or a transport error (retries included, aborted ones not).
	Requests int64 `json:"requests"`
	// Retries counts GETs repeated after a 502, 503 or 504.
	Retries int64 `json:"retries"`
	// Errors counts error events by kind: ErrTransport, ErrProtocol,
	// "http_NNN" (every non-200 answer, including retried ones) and
	// "trino_NAME" (a QueryResults carrying error.errorName NAME).
	Errors map[string]int64 `json:"errors"`

	// QueriesPerSecond is Completed over the window; RequestsPerSecond is
	// Requests over the window.
	QueriesPerSecond  float64 `json:"queries_per_s"`
	RequestsPerSecond float64 `json:"requests_per_s"`

	// Latency maps KindSubmit, KindPoll and KindQuery to their latency
	// summary. In open-loop mode a query's latency is measured from its
	// scheduled start, so a load generator falling behind shows up in it
	// (no coordinated omission).
	Latency map[string]LatencyStats `json:"latency"`

	// Processes holds the CPU and memory accounting of Config.PIDs.
	Processes map[string]ProcResult `json:"processes,omitempty"`

	// Interrupted is set when the context was cancelled before the run
	// ended by itself.
	Interrupted bool `json:"interrupted,omitempty"`
}

// recorder collects the measurements of a run; safe for concurrent use.
type recorder struct {
	submit, poll, query, upstream Histogram

	started, completed, failed, aborted, dropped, warmup atomic.Int64
	requests, retries                                    atomic.Int64

	mu     sync.Mutex
	errors map[string]int64
}

func newRecorder() *recorder {
	return &recorder{errors: map[string]int64{}}
}

func (r *recorder) histogram(kind string) *Histogram {
	switch kind {
	case KindSubmit:
		return &r.submit
	case KindPoll:
		return &r.poll
	case KindSubmitUpstream:
		return &r.upstream
	default:
		return &r.query
	}
}

func (r *recorder) countError(kind string) {
	r.mu.Lock()
	r.errors[kind]++
	r.mu.Unlock()
}

// results summarises the recording for the window [from, to].
func (r *recorder) results(cfg Config, from, to time.Time) *Results {
	res := &Results{
		Mode:          "closed",
		WarmupSeconds: cfg.Warmup.Seconds(),
		Queries:       r.started.Load(),
		Completed:     r.completed.Load(),
		Failed:        r.failed.Load(),
		Aborted:       r.aborted.Load(),
		Dropped:       r.dropped.Load(),
		WarmupQueries: r.warmup.Load(),
		Requests:      r.requests.Load(),
		Retries:       r.retries.Load(),
		Latency: map[string]LatencyStats{
			KindSubmit: r.submit.Stats(),
			KindPoll:   r.poll.Stats(),
			KindQuery:  r.query.Stats(),
		},
	}
	if st := r.upstream.Stats(); st.Count > 0 {
		res.Latency[KindSubmitUpstream] = st
	}
	if cfg.openLoop() {
		res.Mode, res.Rate, res.MaxInFlight = "open", cfg.Rate, cfg.MaxInFlight
	} else {
		res.Concurrency = cfg.Concurrency
	}
	r.mu.Lock()
	res.Errors = maps.Clone(r.errors)
	r.mu.Unlock()
	if w := to.Sub(from).Seconds(); w > 0 {
		res.WindowSeconds = w
		res.QueriesPerSecond = float64(res.Completed) / w
		res.RequestsPerSecond = float64(res.Requests) / w
	}
	return res
}

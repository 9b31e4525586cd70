package events

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard-gw/switchyard/pkg/trino"
)

// DefaultMaxBytes is the largest event body Handler reads unless told
// otherwise. A completed event carries the query's plan and stage
// statistics: 100-200 KiB for a small tpch query on Trino 476.
const DefaultMaxBytes = 1 << 20

// Sink receives the events Handler accepted. An error makes Handler answer
// 503, so Trino's listener sends the event again (connect-retry-count):
// Ingest must tolerate the same event twice.
type Sink interface {
	Ingest(ctx context.Context, cluster string, e *Event) error
}

// SinkFunc is a function as a Sink.
type SinkFunc func(ctx context.Context, cluster string, e *Event) error

// Ingest calls f.
func (f SinkFunc) Ingest(ctx context.Context, cluster string, e *Event) error {
	return f(ctx, cluster, e)
}

// Options configure Handler.
type Options struct {
	// Secrets maps each cluster's event secret (the X-Switchyard-Event-Secret
	// header its listener sends) to the cluster's name. Empty secrets are
	// ignored.
	Secrets map[string]string
	// MaxBytes bounds an event body (default DefaultMaxBytes).
	MaxBytes int64
	// Sink receives every accepted event (nil: accepted and discarded).
	Sink Sink
	// Logger logs each event at debug and each refusal at warn (default:
	// nothing). Secrets are never logged.
	Logger *slog.Logger
	// Registerer takes the handler's metrics (nil: unregistered).
	Registerer prometheus.Registerer
}

// The outcome label of switchyard_events_received_total.
const (
	outcomeIngested     = "ingested"
	outcomeUnauthorized = "unauthorized"
	outcomeTooLarge     = "too_large"
	outcomeMalformed    = "malformed"
	outcomeFailed       = "failed"
)

// kindUnknown labels an event refused before it was parsed.
const kindUnknown = "unknown"

type handler struct {
	secrets  []secret
	maxBytes int64
	sink     Sink
	log      *slog.Logger
	received *prometheus.CounterVec
}

// secret is a configured secret by its SHA-256, so comparing takes the
// same time whatever the length of the secret or of the header.
type secret struct {
	sum     [sha256.Size]byte
	cluster string
}

// Handler is the endpoint Trino's HTTP event listener posts to (mounted at
// Path): one event per POST, named to a cluster by its secret header.
// Answers: 200 once the Sink took the event; 405 for another method; 401
// when the secret is missing or unknown; 413 for a body over MaxBytes; 400
// for a body that Parse refuses; 503 when the Sink fails (Trino's listener
// retries 5xx). Every refusal is a Trino-shaped error document.
func Handler(o Options) http.Handler {
	h := &handler{maxBytes: o.MaxBytes, sink: o.Sink, log: o.Logger}
	if h.maxBytes <= 0 {
		h.maxBytes = DefaultMaxBytes
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	for s, cluster := range o.Secrets {
		if s != "" {
			h.secrets = append(h.secrets, secret{sha256.Sum256([]byte(s)), cluster})
		}
	}
	h.received = registerCounter(o.Registerer, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchyard_events_received_total",
		Help: "Query events posted by Trino's HTTP event listener, by kind (created, completed, unknown when refused before parsing) and outcome (ingested, unauthorized, too_large, malformed, failed).",
	}, []string{"kind", "outcome"}))
	for _, k := range []Kind{Created, Completed} {
		h.received.WithLabelValues(string(k), outcomeIngested)
		h.received.WithLabelValues(string(k), outcomeFailed)
	}
	for _, o := range []string{outcomeUnauthorized, outcomeTooLarge, outcomeMalformed} {
		h.received.WithLabelValues(kindUnknown, o)
	}
	return h
}

// registerCounter registers c on reg, or returns the counter a handler
// registered there before.
func registerCounter(reg prometheus.Registerer, c *prometheus.CounterVec) *prometheus.CounterVec {
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing
			}
		}
		panic(err) // another collector of the same name: a programming error
	}
	return c
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, trino.ErrBadRequest, fmt.Sprintf("method %s not allowed: Trino's HTTP event listener POSTs events to %s", r.Method, Path))
		return
	}
	cluster, ok := h.cluster(r.Header.Get(SecretHeader))
	if !ok {
		h.refuse(w, r, kindUnknown, outcomeUnauthorized, http.StatusUnauthorized, trino.ErrBadRequest,
			"missing or unknown "+SecretHeader+" header: set http-event-listener.connect-http-headers to the cluster's event secret", "")
		return
	}
	if r.ContentLength > h.maxBytes {
		h.refuse(w, r, kindUnknown, outcomeTooLarge, http.StatusRequestEntityTooLarge, trino.ErrBadRequest,
			fmt.Sprintf("event body of %d bytes is larger than the limit of %d bytes", r.ContentLength, h.maxBytes), cluster)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			h.refuse(w, r, kindUnknown, outcomeTooLarge, http.StatusRequestEntityTooLarge, trino.ErrBadRequest,
				fmt.Sprintf("event body is larger than the limit of %d bytes", h.maxBytes), cluster)
			return
		}
		h.refuse(w, r, kindUnknown, outcomeMalformed, http.StatusBadRequest, trino.ErrBadRequest,
			"reading the event body: "+err.Error(), cluster)
		return
	}
	e, err := Parse(body)
	if err != nil {
		code := trino.ErrBadRequest
		if errors.Is(err, ErrQueryID) {
			code = trino.ErrMalformedQueryID
		}
		h.refuse(w, r, kindUnknown, outcomeMalformed, http.StatusBadRequest, code, err.Error(), cluster)
		return
	}
	if h.sink != nil {
		if err := h.sink.Ingest(r.Context(), cluster, e); err != nil {
			h.received.WithLabelValues(string(e.Kind), outcomeFailed).Inc()
			h.log.Warn("query event not recorded", "cluster", cluster, "kind", e.Kind, "queryId", e.QueryID, "err", err)
			writeError(w, http.StatusServiceUnavailable, trino.ErrGatewayUnavailable,
				fmt.Sprintf("the %s event of query %s could not be recorded; send it again", e.Kind, e.QueryID))
			return
		}
	}
	h.received.WithLabelValues(string(e.Kind), outcomeIngested).Inc()
	h.log.Debug("query event", "cluster", cluster, "kind", e.Kind, "queryId", e.QueryID, "state", e.State, "user", e.User)
	w.WriteHeader(http.StatusOK)
}

// cluster finds the cluster whose secret got is. It compares got with
// every secret, each in constant time, so neither the answer's timing
// nor its content tells which secrets exist.
func (h *handler) cluster(got string) (string, bool) {
	if got == "" {
		return "", false
	}
	sum := sha256.Sum256([]byte(got))
	found := -1
	for i := range h.secrets {
		if subtle.ConstantTimeCompare(sum[:], h.secrets[i].sum[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return "", false
	}
	return h.secrets[found].cluster, true
}

// refuse counts, logs and answers a refused event. cluster is empty when
// the secret was not recognised.
func (h *handler) refuse(w http.ResponseWriter, r *http.Request, kind, outcome string, status int, code trino.ErrorCode, msg, cluster string) {
	h.received.WithLabelValues(kind, outcome).Inc()
	h.log.Warn("query event refused", "outcome", outcome, "status", status, "cluster", cluster, "remote", r.RemoteAddr, "reason", msg)
	writeError(w, status, code, msg)
}

func writeError(w http.ResponseWriter, status int, code trino.ErrorCode, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(trino.ErrorDocument(code, msg))
}

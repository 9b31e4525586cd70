// Package resubmit keeps read-only queries alive when their coordinator
// dies before the client read any results. Envoy sends a prefixed poll
// (/_sy/{cluster}/{coordinator}/v1/statement/...) here when it cannot get
// an answer from that coordinator: the connection failed or was reset,
// Envoy's health checks already found the coordinator down, or it answered
// 404 or 503 (it restarted and no longer knows the query). The handler
// tries the coordinator once itself, and when it is really gone, submits
// the query again to another healthy cluster of its routing group and
// answers the poll with the new query's first results: the client follows
// the new nextUri and never sees an error.
//
// Only what cannot be noticed is resubmitted: statements that read and
// write nothing (SELECT, SHOW, DESCRIBE, EXPLAIN), outside a transaction,
// kept at submission (see pkg/admission replay.go), whose client had not
// started reading results (its poll is still in the queued phase, or is
// the first executing one). Any other query on a dead coordinator ends
// with a Trino-shaped COORDINATOR_UNREACHABLE error that names the
// cluster and says why it was not resubmitted.
package resubmit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/health"
	"github.com/switchyard-gw/switchyard/pkg/routing"
	"github.com/switchyard-gw/switchyard/pkg/store"
	"github.com/switchyard-gw/switchyard/pkg/trino"
)

// HealthView answers the health of a coordinator ("cluster/coordinator").
type HealthView interface {
	State(key string) health.State
}

// Options configure a Handler.
type Options struct {
	Router  *routing.Router
	Health  HealthView
	Replays store.Replays
	Queries store.Queries
	// QueryTTL is how long the new query's records live.
	QueryTTL time.Duration
	// StoreTimeout bounds each store call.
	StoreTimeout time.Duration
	// MaxAttempts bounds the resubmissions of one client query.
	MaxAttempts int
	// ProbeTimeout bounds the handler's own try of the coordinator.
	ProbeTimeout time.Duration
	// SubmitTimeout bounds the submission to the new coordinator
	// (default 30s).
	SubmitTimeout time.Duration
	// Client calls coordinators (default: a plain http.Client).
	Client  *http.Client
	Logger  *slog.Logger
	Metrics *Metrics
}

// Handler serves Envoy's fallback for prefixed polls.
type Handler struct{ o Options }

// New returns the handler.
func New(o Options) *Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil)
	}
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	if o.SubmitTimeout <= 0 {
		o.SubmitTimeout = 30 * time.Second
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 1
	}
	return &Handler{o: o}
}

// Outcomes counted by Metrics.Handled.
const (
	outcomeRelayed     = "relayed"     // the coordinator answered after all; its answer was passed on
	outcomeResubmitted = "resubmitted" // the query runs again elsewhere
	outcomeRepeated    = "repeated"    // a repeated poll got the earlier resubmission's answer
	outcomeRefused     = "refused"     // not resubmittable: the client got the error
	outcomeFailed      = "failed"      // resubmittable, but no new query could be started
)

// poll is what a request says about the query it polls.
type poll struct {
	cluster, coordinator string
	kind                 trino.PathKind
	queryID              string
	token                int64 // -1 when the path has none
}

func (p poll) key() string { return fleet.Key(p.cluster, p.coordinator) }

// parsePoll reads the prefix Envoy forwarded (X-Forwarded-Prefix) and the
// rewritten path.
func parsePoll(prefix, path, rawQuery string) (poll, error) {
	c, k, _, ok := trino.ParseCoordinatorPrefix(prefix + "/")
	if !ok {
		return poll{}, errors.New("the request carries no gateway prefix (X-Forwarded-Prefix)")
	}
	info, err := trino.ParsePath(path, rawQuery)
	if err != nil {
		return poll{}, err
	}
	if info.Kind != trino.PathQueued && info.Kind != trino.PathExecuting && info.Kind != trino.PathPartialCancel {
		return poll{}, fmt.Errorf("%.100s is not a statement poll", path)
	}
	p := poll{cluster: c, coordinator: k, kind: info.Kind, queryID: info.QueryID, token: -1}
	// /v1/statement/{queued,executing}/{id}/{slug}/{token}: a path of
	// another shape has no token (and is never taken for page 0).
	if parts := strings.Split(strings.TrimPrefix(path, "/v1/statement/"), "/"); len(parts) == 4 && info.Kind != trino.PathPartialCancel {
		// Only the canonical form Trino writes ("0", "17"; not "00" or
		// "+1"): anything else is no page the gateway can vouch for.
		if t, err := strconv.ParseInt(parts[3], 10, 64); err == nil && t >= 0 && strconv.FormatInt(t, 10) == parts[3] {
			p.token = t
		}
	}
	return p, nil
}

// unread reports whether the client can have received no rows yet: every
// answer in the queued phase is row-free, and a client asking for the
// first executing page has not received it.
func (p poll) unread() bool {
	return p.kind == trino.PathQueued || (p.kind == trino.PathExecuting && p.token == 0)
}

// ServeHTTP answers one poll that Envoy could not deliver.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, err := parsePoll(r.Header.Get("X-Forwarded-Prefix"), r.URL.Path, r.URL.RawQuery)
	if err != nil {
		h.fail(w, r, poll{}, outcomeRefused, fmt.Sprintf("the gateway could not reach the query's coordinator and cannot read this request: %v", err))
		return
	}
	co, known := h.coordinator(p)
	if known && h.relay(w, r, co) {
		h.o.Metrics.Handled.WithLabelValues(outcomeRelayed).Inc()
		return
	}
	if r.Method == http.MethodDelete {
		// The query died with its coordinator: nothing is left to cancel.
		h.o.Logger.Info("cancel of a query whose coordinator is gone", "query", p.queryID, "coordinator", p.key())
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if r.Method != http.MethodGet || p.kind == trino.PathPartialCancel {
		h.fail(w, r, p, outcomeRefused, fmt.Sprintf("query %s was running on coordinator %s of cluster %s, which is unreachable", p.queryID, p.coordinator, p.cluster))
		return
	}
	h.resubmit(w, r, p)
}

func (h *Handler) coordinator(p poll) (*fleet.Coordinator, bool) {
	c, ok := h.o.Router.Fleet().Cluster(p.cluster)
	if !ok {
		return nil, false
	}
	return c.Coordinator(p.coordinator)
}

// relay tries the coordinator once (Envoy may have given up on one that is
// only slow, or its health checks lag) and passes a real answer on. A
// coordinator that refuses, resets, times out, or no longer knows the
// query (404, or 503 while it starts) is gone for this query.
func (h *Handler) relay(w http.ResponseWriter, r *http.Request, co *fleet.Coordinator) bool {
	ctx, cancel := context.WithTimeout(r.Context(), h.o.ProbeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, r.Method, strings.TrimSuffix(co.URL, "/")+r.URL.RequestURI(), nil)
	if err != nil {
		return false
	}
	copyRequestHeaders(req.Header, r)
	req.Host = r.Host
	resp, err := h.o.Client.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound || resp.StatusCode >= 500 {
		return false
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return false
	}
	for k, vs := range resp.Header {
		if k == "Content-Length" || k == "Connection" || k == "Transfer-Encoding" {
			continue
		}
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body)
	return true
}

// copyRequestHeaders passes the client's request headers on, except the
// hop-by-hop ones.
func copyRequestHeaders(dst http.Header, r *http.Request) {
	for k, vs := range r.Header {
		switch k {
		case "Connection", "Keep-Alive", "Transfer-Encoding", "Te", "Upgrade", "Content-Length":
			continue
		}
		dst[k] = vs
	}
}

func (h *Handler) storeCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, h.o.StoreTimeout)
}

// resubmit runs the query again elsewhere, if it may.
func (h *Handler) resubmit(w http.ResponseWriter, r *http.Request, p poll) {
	gone := fmt.Sprintf("query %s was on coordinator %s of cluster %s, which is unreachable", p.queryID, p.coordinator, p.cluster)
	sctx, cancel := h.storeCtx(r.Context())
	rp, err := h.o.Replays.GetReplay(sctx, p.queryID)
	cancel()
	switch {
	case errors.Is(err, store.ErrNotFound):
		h.fail(w, r, p, outcomeRefused, gone+"; it was not kept for resubmission (only SELECT, SHOW, DESCRIBE and EXPLAIN statements outside a transaction are), so run it again if it is safe to")
		return
	case err != nil:
		h.o.Logger.Error("reading a query's replay failed", "query", p.queryID, "error", err)
		h.fail(w, r, p, outcomeFailed, gone+"; the gateway could not read what it needs to resubmit it (shared store unavailable): run it again")
		return
	}
	if rp.Answer != nil {
		// The client repeats a poll it already got the new query for.
		h.o.Metrics.Handled.WithLabelValues(outcomeRepeated).Inc()
		writeJSON(w, rp.Answer)
		return
	}
	if !p.unread() {
		h.fail(w, r, p, outcomeRefused, gone+"; the client had started reading its results, so it is not resubmitted (rows could repeat): run it again")
		return
	}
	if rp.Attempt >= h.o.MaxAttempts {
		h.fail(w, r, p, outcomeRefused, fmt.Sprintf("%s; it was resubmitted %d times already (routing.resubmission.maxAttempts)", gone, rp.Attempt))
		return
	}
	target, err := h.target(rp, p)
	if err != nil {
		h.fail(w, r, p, outcomeFailed, gone+"; it could not be resubmitted: "+err.Error())
		return
	}
	body, header, err := h.submit(r, rp, target)
	if err != nil {
		h.fail(w, r, p, outcomeFailed, fmt.Sprintf("%s; resubmitting it to cluster %s failed: %v", gone, target.cluster, err))
		return
	}
	res, err := trino.ParseSubmitResponse(body)
	if err != nil {
		h.fail(w, r, p, outcomeFailed, fmt.Sprintf("%s; cluster %s answered its resubmission with no query: %v", gone, target.cluster, err))
		return
	}
	h.record(r.Context(), p, rp, res.ID, target, body)
	h.o.Metrics.Handled.WithLabelValues(outcomeResubmitted).Inc()
	h.o.Logger.Info("query resubmitted", "query", p.queryID, "from", p.key(), "to", fleet.Key(target.cluster, target.coordinator.Name),
		"newQuery", res.ID, "group", rp.Group, "user", rp.User, "attempt", rp.Attempt+1)
	for k, vs := range header {
		if strings.HasPrefix(strings.ToLower(k), "x-trino-") {
			w.Header()[k] = vs
		}
	}
	writeJSON(w, body)
}

// record makes the new query findable (owner, replay) and remembers the
// answer for a client that repeats its poll. Failures only cost those.
func (h *Handler) record(ctx context.Context, p poll, rp store.Replay, newID string, t target, answer []byte) {
	sctx, cancel := h.storeCtx(context.WithoutCancel(ctx))
	defer cancel()
	owner := store.QueryRoute{Cluster: t.cluster, Coordinator: t.coordinator.Name, User: rp.User}
	next := rp
	next.Attempt, next.Answer, next.ReplacedBy = rp.Attempt+1, nil, ""
	done := rp
	done.Answer, done.ReplacedBy = answer, newID
	errs := errors.Join(
		h.o.Queries.PutQuery(sctx, newID, owner, h.o.QueryTTL),
		h.o.Replays.PutReplay(sctx, newID, next, h.o.QueryTTL),
		h.o.Replays.PutReplay(sctx, p.queryID, done, h.o.QueryTTL),
	)
	if errs != nil {
		h.o.Logger.Warn("recording a resubmitted query failed", "query", p.queryID, "newQuery", newID, "error", errs)
	}
}

// target is where a resubmitted query goes.
type target struct {
	cluster     string
	coordinator *fleet.Coordinator
}

// target picks another healthy coordinator for the query: a cluster of
// its group chosen by the group's strategy among those with a usable
// coordinator (the failed one excluded; another coordinator of the same
// cluster qualifies).
func (h *Handler) target(rp store.Replay, p poll) (target, error) {
	f := h.o.Router.Fleet()
	group := rp.Group
	if group == "" {
		group = f.DefaultGroup
	}
	usable := map[string]*fleet.Coordinator{}
	var eligible []string
	for _, c := range f.ClustersIn(group) {
		if c.State != fleet.Active {
			continue
		}
		if co := h.o.Router.Coordinator(c, p.key()); co != nil {
			usable[c.Name] = co
			eligible = append(eligible, c.Name)
		}
	}
	if len(eligible) == 0 {
		return target{}, fmt.Errorf("no other healthy cluster in group %s", group)
	}
	d, err := h.o.Router.Route(routing.Request{Group: group, Eligible: eligible, User: rp.User})
	if err != nil {
		return target{}, err
	}
	co, ok := usable[d.Cluster]
	if !ok { // the group fell back to another one
		return target{}, fmt.Errorf("no other healthy cluster in group %s", group)
	}
	return target{cluster: d.Cluster, coordinator: co}, nil
}

// submit sends the statement to the target with the original session, as
// Envoy would have: the client's Host and scheme, and the target's prefix
// so the URIs it builds lead back through the gateway.
func (h *Handler) submit(r *http.Request, rp store.Replay, t target) ([]byte, http.Header, error) {
	ctx, cancel := context.WithTimeout(r.Context(), h.o.SubmitTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(t.coordinator.URL, "/")+"/v1/statement", strings.NewReader(rp.SQL))
	if err != nil {
		return nil, nil, err
	}
	for _, hd := range rp.Headers {
		req.Header.Add(hd.Name, hd.Value)
	}
	for _, k := range []string{"X-Forwarded-Proto", "X-Forwarded-For", "User-Agent"} {
		if v := r.Header.Get(k); v != "" {
			req.Header.Set(k, v)
		}
	}
	req.Header.Set("X-Forwarded-Prefix", trino.CoordinatorPrefix(t.cluster, t.coordinator.Name))
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	req.Host = r.Host
	resp, err := h.o.Client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(body[:min(len(body), 200)]))
	}
	return body, resp.Header, nil
}

// fail answers the poll with a FAILED QueryResults (HTTP 200: the only
// form every client prints).
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, p poll, outcome, message string) {
	h.o.Metrics.Handled.WithLabelValues(outcome).Inc()
	h.o.Logger.Warn("query lost with its coordinator", "query", p.queryID, "coordinator", p.key(), "outcome", outcome, "reason", message)
	id := p.queryID
	if id == "" {
		id = "switchyard_gateway_error"
	}
	scheme := r.Header.Get("X-Forwarded-Proto")
	if scheme == "" {
		scheme = "http"
	}
	writeJSON(w, trino.FailedQueryResults(id, scheme+"://"+r.Host+"/ui/", trino.ErrCoordinatorGone, message))
}

func writeJSON(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// Metrics of resubmission.
type Metrics struct {
	// Handled counts polls Envoy could not deliver, by outcome.
	Handled *prometheus.CounterVec
}

// NewMetrics registers the metrics on reg (nil: unregistered, for tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{Handled: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchyard_resubmit_polls_total",
		Help: "Polls of a query whose coordinator Envoy could not reach, by outcome: relayed (the coordinator answered the gateway), resubmitted, repeated (a repeated poll got the same new query), refused (not resubmittable; the client got COORDINATOR_UNREACHABLE), failed (no new query could be started).",
	}, []string{"outcome"})}
	if reg != nil {
		reg.MustRegister(m.Handled)
	}
	return m
}

// Package queue is the gateway's queue as Trino clients see it: the HTTP
// service Envoy sends the nextUris of queued queries to
// (/_sy/_queue/v1/statement/queued/{id}/{slug}/{token}). A poll is held
// up to a second, like Trino's own queued polls, and answered from the
// shared store: QUEUED again with the query's place and why it waits;
// once workload governance admits it, the query is submitted to its
// cluster with the client's own headers and SQL, and the poll is answered
// with the coordinator's first QueryResults, so the client continues on
// that cluster's prefixed URIs with no extra step. DELETE cancels a
// queued query. Any replica answers any poll: the queue lives in the
// store, so a replica that dies loses nothing.
package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/admission"
	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/routing"
	"github.com/switchyard-gw/switchyard/pkg/store"
	"github.com/switchyard-gw/switchyard/pkg/trino"
	"github.com/switchyard-gw/switchyard/pkg/workload"
)

// Recorder records a queued query once submitted (the admission
// pipeline): its owner, its client session's pin, how to run it again.
type Recorder interface {
	QueuedSubmitted(ctx context.Context, t *admission.Ticket, group string, body []byte)
}

// Options configure a Handler.
type Options struct {
	Governor *workload.Governor
	Router   *routing.Router
	Recorder Recorder
	// Wait is how long a poll is held when nothing changes (default 1s,
	// like Trino; a client's maxWait shortens it).
	Wait time.Duration
	// Every is how often a held poll looks at its entry (default 100ms).
	Every time.Duration
	// SubmitTimeout bounds the submission to a coordinator (default 30s).
	SubmitTimeout time.Duration
	// MaxAttempts bounds the submissions of one queued query (default 3):
	// after that it fails with the last error.
	MaxAttempts int
	// Client calls coordinators (default: a plain http.Client).
	Client *http.Client
	Logger *slog.Logger
}

// Handler serves the queue's URIs.
type Handler struct{ o Options }

// New returns the handler.
func New(o Options) *Handler {
	if o.Wait <= 0 {
		o.Wait = time.Second
	}
	if o.Every <= 0 {
		o.Every = 100 * time.Millisecond
	}
	if o.SubmitTimeout <= 0 {
		o.SubmitTimeout = 30 * time.Second
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 3
	}
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Handler{o: o}
}

// ServeHTTP answers a poll (GET) or a cancel (DELETE) of a queued query.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, slug, token, ok := trino.ParseQueueURI(r.URL.Path)
	if !ok {
		writeDoc(w, http.StatusNotFound, trino.ErrorDocument(trino.ErrNoRoute, "not the URI of a query in the gateway's queue"))
		return
	}
	switch r.Method {
	case http.MethodGet:
		h.poll(w, r, id, slug, token)
	case http.MethodDelete:
		h.cancel(w, r, id, slug)
	default:
		w.Header().Set("Allow", "GET, DELETE")
		writeDoc(w, http.StatusMethodNotAllowed, trino.ErrorDocument(trino.ErrBadRequest, r.Method+" is not allowed on a queued query's URI (GET polls it, DELETE cancels it)"))
	}
}

// poll holds the client's poll until its query can be submitted, has ended,
// or the wait is over.
func (h *Handler) poll(w http.ResponseWriter, r *http.Request, id, slug string, token int64) {
	ctx := r.Context()
	wait := h.o.Wait
	if mw := r.URL.Query().Get("maxWait"); mw != "" {
		if d, err := trino.ParseDuration(mw); err == nil && d < wait {
			wait = d
		}
	}
	deadline := time.Now().Add(wait)
	var last store.QueuePoll
	var storeErr error
	for {
		p, err := h.o.Governor.Poll(ctx, id, slug)
		switch {
		case errors.Is(err, store.ErrNotFound):
			h.failed(w, r, id, trino.ErrQueryNotFound, fmt.Sprintf("the gateway's queue does not know query %s: it ended a while ago, or never existed", id))
			return
		case err != nil:
			storeErr = err
		default:
			storeErr, last = nil, p
			if h.step(w, r, p) {
				return
			}
		}
		if !time.Now().Before(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return // the client went away; its next poll (or the timeout) decides
		case <-time.After(min(h.o.Every, time.Until(deadline))):
		}
	}
	if storeErr != nil && last.Entry.ID == "" {
		h.o.Logger.Warn("a queued query's poll cannot read the queue", "query", id, "error", storeErr)
		h.queued(w, r, id, slug, token, store.QueuePoll{Entry: store.QueueEntry{ID: id, State: store.EntryQueued}}, "the gateway cannot read its queue right now; the query keeps its place")
		return
	}
	h.queued(w, r, id, slug, token, last, "")
}

// step acts on an entry's state; it reports whether it answered.
func (h *Handler) step(w http.ResponseWriter, r *http.Request, p store.QueuePoll) bool {
	e := p.Entry
	switch e.State {
	case store.EntrySubmitted:
		writeDoc(w, http.StatusOK, p.Answer)
		return true
	case store.EntryFinished:
		code, ok := trino.ErrorCodeByName(e.Error.Name)
		if !ok {
			code = trino.ErrGatewayInternal
		}
		h.failed(w, r, e.ID, code, e.Error.Message)
		return true
	case store.EntryAdmitted:
		return h.submit(w, r, e.ID)
	case store.EntryClaimed:
		if e.ClaimUntilMs < time.Now().UnixMilli() { // its replica died mid-submission
			return h.submit(w, r, e.ID)
		}
	}
	return false
}

// submit claims an admitted entry and submits it to its cluster; it
// reports whether it answered the client.
func (h *Handler) submit(w http.ResponseWriter, r *http.Request, id string) bool {
	ctx := r.Context()
	gov := h.o.Governor
	c, err := gov.Claim(ctx, id)
	if err != nil || !c.Claimed {
		return false // another replica has it, or it went back to the queue
	}
	t, err := admission.DecodeTicket(c.Payload)
	if err != nil {
		h.finishFailed(w, r, id, trino.ErrGatewayInternal, "the gateway lost what it needs to submit this queued query: "+err.Error())
		return true
	}
	target, err := h.target(t, c.Entry)
	if err == nil {
		var body []byte
		var header http.Header
		body, header, err = h.post(ctx, r, t, target)
		if err == nil {
			return h.submitted(w, r, c.Entry, t, target, body, header)
		}
	}
	// Submitting failed: back in the queue (it keeps its place and, with
	// room, is admitted again at once), or after the last attempt, a
	// clear error.
	sctx := context.WithoutCancel(ctx)
	if c.Entry.Attempts >= h.o.MaxAttempts {
		msg := fmt.Sprintf("the queued query could not be submitted after %d attempts: %v", c.Entry.Attempts, err)
		h.o.Logger.Warn("a queued query failed to submit", "query", id, "attempts", c.Entry.Attempts, "error", err)
		h.finishFailed(w, r, id, trino.ErrNoClusterAvailable, msg)
		return true
	}
	h.o.Logger.Info("submitting a queued query failed; it goes back to the queue", "query", id, "attempt", c.Entry.Attempts, "error", err)
	if rerr := gov.Requeue(sctx, id); rerr != nil {
		h.o.Logger.Warn("putting a queued query back failed; its claim expires instead", "query", id, "error", rerr)
	}
	return false
}

// submitted records the submission and answers the client with the
// coordinator's first answer.
func (h *Handler) submitted(w http.ResponseWriter, r *http.Request, e store.QueueEntry, t *admission.Ticket, tg target, body []byte, header http.Header) bool {
	ctx := context.WithoutCancel(r.Context())
	gov := h.o.Governor
	res, err := trino.ParseSubmitResponse(body)
	if err != nil {
		h.finishFailed(w, r, e.ID, trino.ErrGatewayInternal, fmt.Sprintf("cluster %s answered the queued query's submission with no query: %v", tg.cluster, err))
		return true
	}
	owner, ok := admission.OwnerFromURIs(res)
	if !ok {
		owner = store.QueryRoute{Cluster: tg.cluster, Coordinator: tg.coordinator.Name}
	}
	if err := gov.Submitted(ctx, e.ID, store.Binding{QueryID: res.ID, Cluster: owner.Cluster, Coordinator: owner.Coordinator}, body); err != nil {
		// It was canceled (or taken over) while it was being submitted:
		// the new query must not run.
		h.o.Logger.Info("a queued query ended while it was being submitted; canceling the new query", "query", e.ID, "newQuery", res.ID, "error", err)
		h.cancelNew(ctx, tg, res.NextURI)
		if p, perr := gov.Poll(ctx, e.ID, e.Slug); perr == nil && p.Entry.State == store.EntryFinished {
			return h.step(w, r, p)
		}
		h.failed(w, r, e.ID, trino.ErrUserCanceled, "the query was canceled")
		return true
	}
	h.o.Recorder.QueuedSubmitted(ctx, t, tg.group, body)
	m := gov.Metrics()
	m.Admitted.WithLabelValues(classLabel(e.Class), "queued").Inc()
	m.Wait.WithLabelValues(classLabel(e.Class)).Observe(time.Since(e.Enqueued()).Seconds())
	h.o.Logger.Info("queued query submitted", "query", e.ID, "newQuery", res.ID, "class", e.Class, "user", e.User,
		"owner", owner.String(), "waited", time.Since(e.Enqueued()).Round(time.Millisecond).String(), "attempt", e.Attempts)
	for k, vs := range header {
		if strings.HasPrefix(strings.ToLower(k), "x-trino-") {
			w.Header()[k] = vs
		}
	}
	writeDoc(w, http.StatusOK, body)
	return true
}

// target is where an admitted query goes.
type target struct {
	group, cluster string
	coordinator    *fleet.Coordinator
}

// target picks the coordinator: the transaction's, the capped cluster the
// store admitted it on, or routing's choice now.
func (h *Handler) target(t *admission.Ticket, e store.QueueEntry) (target, error) {
	f := h.o.Router.Fleet()
	cluster := e.Cluster
	if t.Transaction {
		cluster = t.Route.Cluster
	}
	if cluster != "" {
		c, ok := f.Cluster(cluster)
		if !ok {
			return target{}, fmt.Errorf("cluster %s is no longer in the fleet", cluster)
		}
		if t.Transaction && t.Coordinator != "" {
			if co, ok := c.Coordinator(t.Coordinator); ok {
				return target{group: c.Group, cluster: c.Name, coordinator: co}, nil
			}
		}
		co := h.o.Router.Coordinator(c, "")
		if co == nil {
			return target{}, fmt.Errorf("cluster %s has no healthy coordinator", c.Name)
		}
		return target{group: c.Group, cluster: c.Name, coordinator: co}, nil
	}
	group, cands, err := h.o.Router.Candidates(t.Route)
	if err != nil {
		return target{}, err
	}
	for _, name := range cands {
		c, ok := f.Cluster(name)
		if !ok {
			continue
		}
		if co := h.o.Router.Coordinator(c, ""); co != nil {
			return target{group: group, cluster: c.Name, coordinator: co}, nil
		}
	}
	return target{}, fmt.Errorf("no cluster of group %s has a healthy coordinator", group)
}

// post submits the statement as Envoy would have: the client's headers
// and SQL, the gateway's address as the client used it, and the
// coordinator's prefix, so the URIs it builds lead back through the
// gateway.
func (h *Handler) post(ctx context.Context, r *http.Request, t *admission.Ticket, tg target) ([]byte, http.Header, error) {
	ctx, cancel := context.WithTimeout(ctx, h.o.SubmitTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(tg.coordinator.URL, "/")+"/v1/statement", strings.NewReader(t.SQL))
	if err != nil {
		return nil, nil, err
	}
	for _, hd := range t.Headers {
		req.Header.Add(hd.Name, hd.Value)
	}
	for _, hd := range t.ForwardedHeaders() {
		req.Header.Set(hd.Name, hd.Value)
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p != "" {
		req.Header.Set("X-Forwarded-Proto", p)
	}
	req.Header.Set("X-Forwarded-Prefix", trino.CoordinatorPrefix(tg.cluster, tg.coordinator.Name))
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	if ua := r.Header.Get("User-Agent"); ua != "" {
		req.Header.Set("User-Agent", ua)
	}
	req.Host = r.Host // the gateway's address as the client uses it
	if req.Host == "" {
		req.Host = t.Authority
	}
	resp, err := h.o.Client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster %s: %w", tg.cluster, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("cluster %s: reading the answer: %w", tg.cluster, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("cluster %s answered HTTP %d: %s", tg.cluster, resp.StatusCode, bytes.TrimSpace(body[:min(len(body), 200)]))
	}
	return body, resp.Header, nil
}

// cancelNew cancels a query the queue submitted but must not run.
func (h *Handler) cancelNew(ctx context.Context, tg target, nextURI string) {
	if nextURI == "" {
		return
	}
	_, path, ok := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(nextURI, "http://"), "https://"), "/")
	if !ok {
		return
	}
	if _, _, rest, ok := trino.ParseCoordinatorPrefix("/" + path); ok {
		path = strings.TrimPrefix(rest, "/")
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, strings.TrimSuffix(tg.coordinator.URL, "/")+"/"+path, nil)
	if err != nil {
		return
	}
	if resp, err := h.o.Client.Do(req); err == nil {
		resp.Body.Close()
	}
}

// cancel removes a queued query (DELETE on its nextUri): its client reads
// USER_CANCELED should it poll again.
func (h *Handler) cancel(w http.ResponseWriter, r *http.Request, id, slug string) {
	ctx := r.Context()
	p, err := h.o.Governor.Poll(ctx, id, slug)
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeDoc(w, http.StatusNotFound, trino.ErrorDocument(trino.ErrQueryNotFound, "the gateway's queue does not know query "+id))
		return
	case err != nil:
		writeDoc(w, http.StatusServiceUnavailable, trino.ErrorDocument(trino.ErrGatewayUnavailable, "the gateway cannot read its queue right now; try again"))
		return
	}
	if p.Entry.State == store.EntrySubmitted {
		// The client cancels before it saw the answer: cancel the query
		// that runs now.
		if res, err := trino.ParseSubmitResponse(p.Answer); err == nil {
			if tg, ok := h.runningOn(res, p.Entry); ok {
				h.cancelNew(ctx, tg, res.NextURI)
			}
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if _, err := h.o.Governor.Finish(ctx, id, store.EntryError{Name: trino.ErrUserCanceled.Name, Message: "the query was canceled while it waited in the gateway's queue"}); err != nil && !errors.Is(err, store.ErrNotFound) {
		writeDoc(w, http.StatusServiceUnavailable, trino.ErrorDocument(trino.ErrGatewayUnavailable, "the gateway could not cancel the queued query; try again"))
		return
	}
	h.o.Logger.Info("queued query canceled by its client", "query", id, "class", p.Entry.Class, "user", p.Entry.User)
	w.WriteHeader(http.StatusNoContent)
}

// runningOn is the coordinator a submitted entry's query runs on: the one
// its answer's URIs name (the entry's cluster is only set when a cluster
// cap admitted it), else a coordinator of the entry's cluster.
func (h *Handler) runningOn(res trino.SubmitResponse, e store.QueueEntry) (target, bool) {
	cluster, name := e.Cluster, ""
	if o, ok := admission.OwnerFromURIs(res); ok {
		cluster, name = o.Cluster, o.Coordinator
	}
	c, ok := h.o.Router.Fleet().Cluster(cluster)
	if !ok {
		return target{}, false
	}
	co, ok := c.Coordinator(name)
	if !ok {
		if co = h.o.Router.Coordinator(c, ""); co == nil {
			return target{}, false
		}
	}
	return target{group: c.Group, cluster: c.Name, coordinator: co}, true
}

// queued answers QUEUED again: the next token, the place and the reason.
func (h *Handler) queued(w http.ResponseWriter, r *http.Request, id, slug string, token int64, p store.QueuePoll, note string) {
	base := baseURL(r)
	why := note
	if why == "" {
		why = h.reason(p)
	}
	elapsed := 0
	if p.Entry.EnqueuedMs > 0 {
		elapsed = int(time.Since(p.Entry.Enqueued()).Milliseconds())
	}
	writeDoc(w, http.StatusOK, trino.QueuedQueryResults(id, base+"/ui/", trino.QueueURI(base, id, slug, token+1), elapsed, p.Position, why))
}

// reason says why a queued entry waits, from the counts its poll read.
func (h *Handler) reason(p store.QueuePoll) string {
	cfg, l := h.o.Governor.Config()
	return workload.WaitReason(cfg, l, p.Entry, p.Position, p.ClassRunning, p.UserRunning, p.Clusters)
}

// failed answers the poll with a FAILED QueryResults: every client prints
// its message.
func (h *Handler) failed(w http.ResponseWriter, r *http.Request, id string, code trino.ErrorCode, msg string) {
	writeDoc(w, http.StatusOK, trino.FailedQueryResults(id, baseURL(r)+"/ui/", code, msg))
}

// finishFailed ends the entry with the error and answers it.
func (h *Handler) finishFailed(w http.ResponseWriter, r *http.Request, id string, code trino.ErrorCode, msg string) {
	if _, err := h.o.Governor.Finish(context.WithoutCancel(r.Context()), id, store.EntryError{Name: code.Name, Message: msg}); err != nil {
		h.o.Logger.Warn("ending a queued query failed", "query", id, "error", err)
	}
	h.failed(w, r, id, code, msg)
}

func baseURL(r *http.Request) string {
	scheme := r.Header.Get("X-Forwarded-Proto")
	if scheme == "" {
		scheme = "http"
	}
	return scheme + "://" + r.Host
}

func writeDoc(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func classLabel(c string) string {
	if c == "" {
		return "(none)"
	}
	return c
}

package loadgen

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// cancelTimeout bounds the best-effort DELETE sent for an aborted query.
const cancelTimeout = time.Second

// outcome is how a query ended.
type outcome int

const (
	outcomeCompleted outcome = iota
	outcomeFailed
	outcomeAborted
)

// client runs queries and records what happens.
type client struct {
	cfg       Config
	http      *http.Client
	transport *http.Transport
	submitURL string
	rec       *recorder
	// parent is the caller's context: an aborted query's DELETE is sent
	// only while it is alive.
	parent context.Context
	bufs   sync.Pool
}

func newClient(parent context.Context, cfg Config, rec *recorder) *client {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        0, // no global limit; the per-host limit applies
		MaxIdleConnsPerHost: cfg.MaxIdleConnsPerHost,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   false,
		TLSClientConfig:     cfg.TLS,
	}
	return &client{
		cfg:       cfg,
		http:      &http.Client{Transport: tr, Timeout: cfg.RequestTimeout},
		transport: tr,
		submitURL: cfg.URL + "/v1/statement",
		rec:       rec,
		parent:    parent,
		bufs:      sync.Pool{New: func() any { return new(bytes.Buffer) }},
	}
}

// queryRun is one query in progress.
type queryRun struct {
	c        *client
	ctx      context.Context
	measured bool
}

// run executes one query. measured says whether it counts in the results;
// start is the time its latency is measured from.
func (c *client) run(ctx context.Context, measured bool, start time.Time) outcome {
	q := queryRun{c: c, ctx: ctx, measured: measured}
	qr, ok, aborted := q.request(http.MethodPost, c.submitURL, KindSubmit)
	if aborted {
		return outcomeAborted
	}
	if !ok {
		return outcomeFailed
	}
	if qr.ID == "" {
		q.countError(ErrProtocol)
		return outcomeFailed
	}
	for qr.NextURI != "" {
		next := qr.NextURI
		if c.cfg.RewriteNextURI != nil {
			next = c.cfg.RewriteNextURI(next)
		}
		qr, ok, aborted = q.request(http.MethodGet, next, KindPoll)
		if aborted {
			c.cancel(next)
			return outcomeAborted
		}
		if !ok {
			return outcomeFailed
		}
	}
	if measured {
		c.rec.query.Record(time.Since(start))
	}
	return outcomeCompleted
}

// request sends one request (retrying GETs answered 502, 503 or 504) and
// decodes the QueryResults. ok is false when the query failed (the error is
// counted); aborted is true when ctx ended first.
func (q *queryRun) request(method, uri, kind string) (qr queryResults, ok, aborted bool) {
	for attempt := 0; ; attempt++ {
		status, body, err := q.roundTrip(method, uri, kind)
		if err != nil {
			if q.ctx.Err() != nil {
				return qr, false, true
			}
			var pe protocolError
			switch {
			case !errors.As(err, &pe):
				q.countRequest()
				q.countError(ErrTransport)
			case pe.sent:
				q.countRequest()
				q.countError(ErrProtocol)
			default: // no request was sent (e.g. an unusable nextUri)
				q.countError(ErrProtocol)
			}
			return qr, false, false
		}
		q.countRequest()
		if status != http.StatusOK {
			q.c.release(body)
			q.countError("http_" + strconv.Itoa(status))
			if method == http.MethodGet && retryable(status) && attempt < q.c.cfg.MaxRetries {
				if q.measured {
					q.c.rec.retries.Add(1)
				}
				if !sleepCtx(q.ctx, q.c.backoff()) {
					return qr, false, true
				}
				continue
			}
			return qr, false, false
		}
		qr, err = decodeResults(body.Bytes())
		q.c.release(body)
		if err != nil {
			q.countError(ErrProtocol)
			return qr, false, false
		}
		if qr.Error != nil {
			name := qr.Error.ErrorName
			if name == "" {
				name = "UNKNOWN"
			}
			q.countError("trino_" + name)
			return qr, false, false
		}
		return qr, true, false
	}
}

// protocolError marks a response the protocol does not allow; sent tells
// whether a request went out.
type protocolError struct {
	msg  string
	sent bool
}

func (e protocolError) Error() string { return e.msg }

// roundTrip sends one request and reads the whole body; it records the
// latency of every answered request of a measured query.
func (q *queryRun) roundTrip(method, uri, kind string) (int, *bytes.Buffer, error) {
	c := q.c
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader(c.cfg.SQL)
	}
	req, err := http.NewRequestWithContext(q.ctx, method, uri, body)
	if err != nil {
		return 0, nil, protocolError{msg: "building request for " + uri + ": " + err.Error()}
	}
	c.setHeaders(req)
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	buf := c.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	_, err = buf.ReadFrom(io.LimitReader(resp.Body, c.cfg.MaxBodyBytes+1))
	resp.Body.Close()
	if err != nil {
		c.release(buf)
		return 0, nil, err
	}
	if q.measured {
		c.rec.histogram(kind).Record(time.Since(start))
		if kind == KindSubmit {
			if ms, err := strconv.Atoi(resp.Header.Get("X-Envoy-Upstream-Service-Time")); err == nil && ms >= 0 {
				c.rec.histogram(KindSubmitUpstream).Record(time.Duration(ms) * time.Millisecond)
			}
		}
	}
	if int64(buf.Len()) > c.cfg.MaxBodyBytes {
		c.release(buf)
		return 0, nil, protocolError{msg: "response body larger than the limit", sent: true}
	}
	return resp.StatusCode, buf, nil
}

func (c *client) setHeaders(req *http.Request) {
	for k, vs := range c.cfg.Headers {
		req.Header[k] = vs
	}
	req.Header.Set("X-Trino-User", c.cfg.User)
	req.Header.Set("User-Agent", "switchyard-loadgen")
}

func (c *client) release(b *bytes.Buffer) {
	if b != nil && b.Cap() <= 1<<20 {
		c.bufs.Put(b)
	}
}

func (q *queryRun) countRequest() {
	if q.measured {
		q.c.rec.requests.Add(1)
	}
}

func (q *queryRun) countError(kind string) {
	if q.measured {
		q.c.rec.countError(kind)
	}
}

// cancel sends a best-effort DELETE for a query aborted at the end of the
// run, so the server does not keep running it. Not done when the caller's
// context has ended: then everything stops at once.
func (c *client) cancel(nextURI string) {
	if c.parent.Err() != nil {
		return
	}
	ctx, stop := context.WithTimeout(c.parent, cancelTimeout)
	defer stop()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, nextURI, nil)
	if err != nil {
		return
	}
	c.setHeaders(req)
	resp, err := c.http.Do(req)
	if err != nil {
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
}

func retryable(status int) bool {
	return status == http.StatusBadGateway || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout
}

// backoff returns a random pause in [RetryBackoffMin, RetryBackoffMax].
func (c *client) backoff() time.Duration {
	span := c.cfg.RetryBackoffMax - c.cfg.RetryBackoffMin
	if span <= 0 {
		return c.cfg.RetryBackoffMin
	}
	return c.cfg.RetryBackoffMin + rand.N(span+1)
}

// sleepCtx waits d; it reports false if ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/events"
)

// EventSecretHeader is the header Trino's HTTP event listener sends with
// every event: the secret that names the cluster to the control plane.
const EventSecretHeader = events.SecretHeader

// maxRelayedEvent bounds the body the relay reads (a completed event
// carries the query text and its plan).
const maxRelayedEvent = 32 << 20

// EventRelay stands in for the load balancer an operator puts in front of
// the control-plane replicas: every Trino the Env starts posts its query
// events (Trino's HTTP event listener) to it, and it forwards each one to
// every target. Trino starts before any control plane in the tests, so
// the relay is what Trino is configured with; a test adds the control
// plane as a target once it runs.
type EventRelay struct {
	// URL is the relay's base URL (http://127.0.0.1:port).
	URL string

	srv    *http.Server
	done   chan struct{}
	client *http.Client

	mu      sync.Mutex
	targets []string
	drop    bool
	stopped bool

	received, forwarded, failed, dropped atomic.Int64
}

// Events returns the Env's event relay, starting it on the first call.
// env.StopAll stops it.
func (e *Env) Events() (*EventRelay, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.events != nil {
		return e.events, nil
	}
	r, err := StartEventRelay()
	if err != nil {
		return nil, err
	}
	e.events = r
	return r, nil
}

// StartEventRelay starts a relay with no target on a free loopback port.
// Tests use Env.Events; this is for a relay of one's own.
func StartEventRelay() (*EventRelay, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("event relay: %w", err)
	}
	r := &EventRelay{
		URL:    "http://" + ln.Addr().String(),
		done:   make(chan struct{}),
		client: &http.Client{Timeout: 10 * time.Second},
	}
	r.srv = &http.Server{Handler: http.HandlerFunc(r.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(r.done)
		_ = r.srv.Serve(ln)
	}()
	return r, nil
}

// IngestURL is where Trino posts its events: the relay's URL and the
// control plane's event path.
func (r *EventRelay) IngestURL() string { return r.URL + events.Path }

// Add makes url (a full URL, such as a control plane's
// http://127.0.0.1:9080/events/trino) a target of every later event.
// Adding a target twice has no effect.
func (r *EventRelay) Add(url string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !slices.Contains(r.targets, url) {
		r.targets = append(r.targets, url)
	}
}

// Remove stops forwarding to url.
func (r *EventRelay) Remove(url string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.targets = slices.DeleteFunc(r.targets, func(t string) bool { return t == url })
}

// Targets returns the current targets.
func (r *EventRelay) Targets() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.targets)
}

// SetDrop makes the relay swallow events (true): Trino gets 200 and no
// target sees the event, as if it were lost on the way.
func (r *EventRelay) SetDrop(drop bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.drop = drop
}

// Received counts the events Trino posted, dropped ones included.
func (r *EventRelay) Received() int64 { return r.received.Load() }

// Forwarded counts deliveries a target accepted (2xx): an event sent to
// two targets counts twice.
func (r *EventRelay) Forwarded() int64 { return r.forwarded.Load() }

// Failed counts deliveries a target refused or did not answer.
func (r *EventRelay) Failed() int64 { return r.failed.Load() }

// Dropped counts the events swallowed under SetDrop(true).
func (r *EventRelay) Dropped() int64 { return r.dropped.Load() }

// Stop closes the relay; events posted afterwards are refused. Stopping
// twice is harmless.
func (r *EventRelay) Stop() {
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return
	}
	r.stopped = true
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.srv.Shutdown(ctx); err != nil {
		_ = r.srv.Close()
	}
	<-r.done
	r.client.CloseIdleConnections()
}

// hopHeaders are the headers that belong to one connection, not to the
// event; the relay does not forward them.
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "Content-Length", "Host"}

// serve takes one event from Trino and forwards it to every target. The
// answer to Trino is 200 when every target accepted it (or there is no
// target, or the relay drops events), 413 when the event is too large,
// and otherwise the first target's refusal (its status, or 502 when it
// did not answer), so Trino's listener retries the event: targets that
// already took it then see it again.
func (r *EventRelay) serve(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "event relay: only POST", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, maxRelayedEvent+1))
	if err != nil {
		http.Error(w, "event relay: reading the event: "+err.Error(), http.StatusBadRequest)
		return
	}
	if len(body) > maxRelayedEvent {
		http.Error(w, fmt.Sprintf("event relay: event larger than %d bytes", maxRelayedEvent), http.StatusRequestEntityTooLarge)
		return
	}
	r.received.Add(1)
	r.mu.Lock()
	drop, targets := r.drop, slices.Clone(r.targets)
	r.mu.Unlock()
	if drop {
		r.dropped.Add(1)
		w.WriteHeader(http.StatusOK)
		return
	}
	status, msg := http.StatusOK, ""
	for _, t := range targets {
		code, err := r.forward(req.Context(), t, req.Header, body)
		if err == nil {
			r.forwarded.Add(1)
			continue
		}
		r.failed.Add(1)
		if code == 0 {
			// Nothing listens there (a control plane a test stopped or
			// killed): a load balancer skips a dead backend.
			continue
		}
		if status == http.StatusOK {
			status, msg = code, err.Error()
		}
	}
	if status != http.StatusOK {
		http.Error(w, "event relay: "+msg, status)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// forward posts one event to target with the event's headers. It returns
// the status to pass back to Trino when the target does not accept it (0
// when nothing listens at the target).
func (r *EventRelay) forward(ctx context.Context, target string, h http.Header, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return http.StatusBadGateway, fmt.Errorf("target %s: %w", target, err)
	}
	for k, vs := range h {
		if !slices.Contains(hopHeaders, http.CanonicalHeaderKey(k)) {
			req.Header[k] = slices.Clone(vs)
		}
	}
	resp, err := r.client.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return 0, fmt.Errorf("target %s: %w", target, err)
		}
		return http.StatusBadGateway, fmt.Errorf("target %s: %w", target, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("target %s answered %d: %s", target, resp.StatusCode, bytes.TrimSpace(msg))
	}
	return http.StatusOK, nil
}

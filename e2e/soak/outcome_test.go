package soak

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// result is how a query ended, as the soak counts it.
type result string

const (
	resultOK    result = "ok"
	resultError result = "error" // ended with an error the client reported
	resultHung  result = "hung"  // no end within its bound, or the client's own request timeout fired
	resultLost  result = "lost"  // no outcome at all: the client process ended without reporting it
)

// outcome is one query (or one transaction) of the load, as recorded.
type outcome struct {
	ID          int
	Client      string // python, jdbc, cli
	Kind        string // short, long, large, txn
	Key         string // the catalogue entry
	Envoy       int    // index of the Envoy it was sent to
	Start, End  time.Time
	Cluster     string // where it ran: nextUri prefix or the query ID looked up on the clusters
	Coordinator string
	QueryIDs    []string
	Result      result
	ErrName     string
	ErrMsg      string
	Rows        int
	Digest      string
	Wrong       string // a deterministic query whose result differs from direct Trino's: what differed
	// Clear is true for an error the server put in Trino's shape (an
	// error name the client printed), false for a transport failure.
	Clear bool
	// Excuse is why a failure was unavoidable, from the excuse rules of
	// the faults (empty: not excused).
	Excuse string
	// OnKilledCoordinator: excused because it ran on a coordinator that
	// was killed; such queries leave the availability denominator.
	OnKilledCoordinator bool
}

func (o *outcome) String() string {
	s := fmt.Sprintf("#%d %s/%s %s via envoy%d on %s/%s %s-%s: %s", o.ID, o.Client, o.Kind, o.Key, o.Envoy+1,
		orDash(o.Cluster), orDash(o.Coordinator), o.Start.Format("15:04:05.000"), o.End.Format("15:04:05.000"), o.Result)
	if o.ErrName != "" {
		s += " " + o.ErrName + ": " + truncate(o.ErrMsg, 300)
	}
	if o.Wrong != "" {
		s += " WRONG RESULT: " + o.Wrong
	}
	if len(o.QueryIDs) > 0 {
		s += " (" + strings.Join(o.QueryIDs, ",") + ")"
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// recorder collects outcomes from every client loop.
type recorder struct {
	mu   sync.Mutex
	next int
	all  []*outcome
}

// begin allocates an outcome for a query about to be sent; the caller
// fills it in and calls finish. An outcome never finished is lost.
func (r *recorder) begin(client, kind, key string, envoy int) *outcome {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.next++
	o := &outcome{ID: r.next, Client: client, Kind: kind, Key: key, Envoy: envoy, Start: time.Now(), Result: resultLost}
	r.all = append(r.all, o)
	return o
}

// update runs f under the recorder's lock (outcomes are read by the
// accounting and written by the client loops).
func (r *recorder) update(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f()
}

// snapshot copies every outcome.
func (r *recorder) snapshot() []outcome {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]outcome, len(r.all))
	for i, o := range r.all {
		out[i] = *o
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out
}

// connectionError reports whether a client's error is a failed, refused,
// reset or cut-short connection (what a killed Envoy causes), by the clients'
// messages: Python requests, Java (JDBC and the CLI use OkHttp).
func connectionError(msg string) bool {
	for _, s := range []string{
		"Connection refused", "Connection reset", "Remote end closed connection",
		"RemoteDisconnected", "ConnectionError", "ConnectException", "Failed to connect",
		"unexpected end of stream", "Broken pipe", "EOFException", "Connection aborted",
		// A response the dead process had begun, cut short (requests'
		// ChunkedEncodingError; urllib3's IncompleteRead).
		"Response ended prematurely", "IncompleteRead",
	} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

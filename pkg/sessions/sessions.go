// Package sessions keeps a client session on one cluster (session
// affinity), so that a session behaves as if it talked to one Trino: the
// tables it creates in a memory catalog, its view of system.runtime, the
// state of per-cluster catalogs stay where its statements go.
//
// A session is named by the client (X-Trino-Client-Session or
// X-External-Session-Id), or by the gateway: on a session's first
// statement the gateway hands out an ID as a prepared statement
// (trino.GatewaySessionAdded), which every Trino client sends back with
// each later request of the session, and which the gateway removes before
// a request reaches a coordinator. The shared store keeps, per session,
// the cluster each routing group sends it to, with an idle TTL; a lost
// record costs the session a new pin, never an error.
package sessions

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"maps"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/degraded"
	"github.com/switchyard-gw/switchyard/pkg/store"
)

// Source is where a session's ID came from.
type Source string

const (
	// FromHeader: the client named its session in a header.
	FromHeader Source = "header"
	// FromGateway: the ID the gateway handed out, sent back by the client.
	FromGateway Source = "gateway"
	// New: the session's first statement; the gateway hands out an ID
	// with its answer.
	New Source = "new"
)

// Identity is a request's client session.
type Identity struct {
	// ID is the session's name as logs and policy show it: the client's
	// own, or the gateway's.
	ID     string
	Source Source
	key    string // in the store
}

// Identify names the session of a request from user: the client's own
// session header (header) wins over the gateway's ID (gateway); with
// neither, the session is new and gets a fresh ID. A client-named session
// is scoped by its user, so two users' equal names are two sessions.
func Identify(user, header, gateway string) Identity {
	switch {
	case header != "":
		sum := sha256.Sum256([]byte(user + "\x00" + header))
		return Identity{ID: header, Source: FromHeader, key: "h" + hex.EncodeToString(sum[:16])}
	case gateway != "":
		return Identity{ID: gateway, Source: FromGateway, key: "g" + gateway}
	}
	id := NewID()
	return Identity{ID: id, Source: New, key: "g" + id}
}

// NewID is a fresh gateway session ID (trino.ValidSessionID).
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Options configure a Tracker.
type Options struct {
	Store store.Sessions
	// IdleTTL: a session unused this long starts afresh (default 1h).
	IdleTTL time.Duration
	// Timeout bounds each store call (default 200ms); a lookup that times
	// out is tried once more.
	Timeout time.Duration
	// Degraded reports a failing store once per interval.
	Degraded *degraded.Reporter
}

// Tracker reads and writes session pins. It is safe for concurrent use.
type Tracker struct{ o Options }

// NewTracker returns a tracker.
func NewTracker(o Options) *Tracker {
	if o.IdleTTL <= 0 {
		o.IdleTTL = time.Hour
	}
	if o.Timeout <= 0 {
		o.Timeout = 200 * time.Millisecond
	}
	if o.Degraded == nil {
		o.Degraded = degraded.New(degraded.Options{})
	}
	return &Tracker{o: o}
}

// Pins is where a session goes: routing group -> cluster.
type Pins map[string]string

// Found says what a lookup found.
type Found int

const (
	// None: a new session (nothing to look up).
	None Found = iota
	// Known: the session's record.
	Known
	// Lost: a session the client named or was given, with no record (it
	// idled out, or the store lost it): it starts afresh.
	Lost
	// Failed: the store failed; the statement is routed without the pins.
	Failed
)

// Lookup returns the pins of the session of user (restarting its idle
// TTL). It never fails: a missing record, another user's record or a
// failing store give no pins.
func (t *Tracker) Lookup(ctx context.Context, id Identity, user string) (Pins, Found) {
	if id.Source == New {
		return nil, None
	}
	rec, err := t.get(ctx, id)
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		// A store call that timed out is tried once more: a statement
		// routed without its session's pin lands on another cluster (a
		// table it made is not there), so a moment's stall of the store
		// or of this machine costs a little time rather than the pin.
		rec, err = t.get(ctx, id)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, Lost
	case err != nil:
		t.o.Degraded.Fail("store.get_session", "reading client sessions fails; statements are routed without session affinity", "session", id.ID, "error", err)
		return nil, Failed
	}
	t.o.Degraded.Recover("store.get_session", "reading client sessions works again")
	if rec.User != user {
		return nil, Lost
	}
	return Pins(rec.Clusters), Known
}

func (t *Tracker) get(ctx context.Context, id Identity) (store.ClientSession, error) {
	ctx, cancel := context.WithTimeout(ctx, t.o.Timeout)
	defer cancel()
	return t.o.Store.GetSession(ctx, id.key, t.o.IdleTTL)
}

// Pin records that the session's statements in group go to cluster, on
// top of its other groups' pins.
func (t *Tracker) Pin(ctx context.Context, id Identity, user string, pins Pins, group, cluster string) error {
	next := maps.Clone(pins)
	if next == nil {
		next = Pins{}
	}
	next[group] = cluster
	ctx, cancel := context.WithTimeout(ctx, t.o.Timeout)
	defer cancel()
	if err := t.o.Store.PutSession(ctx, id.key, store.ClientSession{User: user, Clusters: next}, t.o.IdleTTL); err != nil {
		t.o.Degraded.Fail("store.put_session", "recording client sessions fails; their next statements may land on another cluster", "session", id.ID, "error", err)
		return err
	}
	t.o.Degraded.Recover("store.put_session", "recording client sessions works again")
	return nil
}

// Restore is the Identity that Identify gave a request, from its source
// and ID (kept with a queued query, say).
func Restore(user string, source Source, id string) Identity {
	if source == FromHeader {
		return Identify(user, id, "")
	}
	i := Identify(user, "", id)
	i.Source = source
	return i
}

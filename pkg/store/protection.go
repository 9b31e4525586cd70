package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Protection is the shared memory of query protection: what blew up
// before (incidents by query fingerprint, and quarantines), which users
// the watchdog throttles, claims that let exactly one control-plane
// replica act on a query, and the log of every protection action.
//
// Reading what is not recorded returns nothing, not ErrNotFound, except
// GetThrottle; removing it (ReleaseFingerprint, RemoveThrottle) returns
// ErrNotFound. Inputs are checked: an empty fingerprint, user, key,
// holder or action, or a duration under 1ms, is an error naming the
// field.
type Protection interface {
	// RecordIncident records an incident under its fingerprint, newest
	// first: the fingerprint's incidents are kept for ttl after the
	// newest (each record restarts the TTL), at most keep of them.
	// An incident of Kind IncidentQuarantine is kept apart: it replaces
	// the fingerprint's quarantine and lasts until its Until, which must
	// be in the future (ttl and keep do not apply to it). A zero Time is
	// the store's now.
	RecordIncident(ctx context.Context, in Incident, ttl time.Duration, keep int) error
	// Incidents returns a fingerprint's incidents, its live quarantine
	// among them, newest first (by Time). One round trip on Redis: it is
	// read on the request path.
	Incidents(ctx context.Context, fingerprint string) ([]Incident, error)
	// ReleaseFingerprint forgets a fingerprint: its quarantine and the
	// incidents behind it, so that a rule counting incidents does not
	// quarantine it again at once (the action log keeps the history).
	// ErrNotFound when there was nothing to forget.
	ReleaseFingerprint(ctx context.Context, fingerprint string) error

	// SetThrottle throttles a user until t.Until (in the future),
	// replacing the user's throttle. A zero Set is the store's now.
	SetThrottle(ctx context.Context, t Throttle) error
	// GetThrottle returns a user's live throttle, or ErrNotFound.
	GetThrottle(ctx context.Context, user string) (Throttle, error)
	// Throttles returns the live throttles, by user.
	Throttles(ctx context.Context) ([]Throttle, error)
	// RemoveThrottle ends a user's throttle (ErrNotFound if none was
	// live).
	RemoveThrottle(ctx context.Context, user string) error

	// Claim takes key for holder for ttl: true for the first claim of key
	// while a claim of it lives, false for every other (the same
	// holder's too). Replicas claim an action on a query (a kill, say)
	// before taking it, so it is taken at most once across the fleet and
	// across the watchdog's ticks.
	Claim(ctx context.Context, key, holder string, ttl time.Duration) (bool, error)

	// AddAction appends an action to the log (the oldest beyond keep are
	// dropped) and, when it names a query, to the query's own list (at
	// most QueryActionsKeep actions, kept QueryActionsTTL after the
	// newest). A zero Time is the store's now.
	AddAction(ctx context.Context, a Action, keep int) error
	// RecentActions returns up to n actions, newest first.
	RecentActions(ctx context.Context, n int) ([]Action, error)
	// QueryActions returns the actions taken on a query, newest first.
	QueryActions(ctx context.Context, queryID string) ([]Action, error)
}

// Incident kinds.
const (
	IncidentFailure    = "failure"    // the query failed on a limit (Trino's event listener)
	IncidentKilled     = "killed"     // the watchdog killed it
	IncidentQuarantine = "quarantine" // the fingerprint is refused until Until
)

// Incident is one thing that went wrong with a query, recorded under the
// fingerprint of its normalised SQL.
type Incident struct {
	Fingerprint string `json:"fingerprint"`
	QueryID     string `json:"queryId"`
	User        string `json:"user"`
	Cluster     string `json:"cluster,omitempty"`
	// Kind is IncidentFailure, IncidentKilled or IncidentQuarantine.
	Kind string `json:"kind"`
	// Reason says what happened, for example "EXCEEDED_LOCAL_MEMORY_LIMIT:
	// Query exceeded per-node memory limit of 100MB".
	Reason    string    `json:"reason"`
	ErrorName string    `json:"errorName,omitempty"`
	Time      time.Time `json:"time"`
	// Until is the end of a quarantine.
	Until time.Time `json:"until,omitzero"`
}

// Throttle limits how many queries a user may run at once, until a time.
type Throttle struct {
	User string `json:"user"`
	// MaxRunning is the user's limit of running queries (0: none may
	// start).
	MaxRunning int       `json:"maxRunning"`
	Reason     string    `json:"reason"`
	Until      time.Time `json:"until"`
	// Set is when the throttle was set.
	Set time.Time `json:"set"`
}

// Action is one protection action (kill, throttle, quarantine, warn,
// deny, route, caps), or one that a report-only rule would have taken.
type Action struct {
	Time        time.Time `json:"time"`
	QueryID     string    `json:"queryId,omitempty"`
	Fingerprint string    `json:"fingerprint,omitempty"`
	User        string    `json:"user,omitempty"`
	Cluster     string    `json:"cluster,omitempty"`
	Action      string    `json:"action"`
	Rule        string    `json:"rule,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	// ReportOnly: the rule only reports; the action was not taken.
	ReportOnly bool `json:"reportOnly,omitempty"`
	// Until is when a throttle or quarantine ends.
	Until time.Time `json:"until,omitzero"`
}

// The per-query action lists: how many actions each keeps, and for how
// long after its newest.
const (
	QueryActionsKeep = 100
	QueryActionsTTL  = 7 * 24 * time.Hour
)

// maxFingerprint bounds a fingerprint (a hash of normalised SQL, not the
// SQL).
const maxFingerprint = 128

func checkField(field, v string) error {
	if v == "" {
		return fmt.Errorf("protection: %s is empty", field)
	}
	return nil
}

func checkDuration(field string, d time.Duration) error {
	if d < time.Millisecond {
		return fmt.Errorf("protection: %s %v: must be at least 1ms", field, d)
	}
	return nil
}

func checkFingerprint(fp string) error {
	if err := checkField("fingerprint", fp); err != nil {
		return err
	}
	if len(fp) > maxFingerprint {
		return fmt.Errorf("protection: fingerprint of %d bytes: at most %d (a hash, not the SQL)", len(fp), maxFingerprint)
	}
	return nil
}

// prepareIncident checks an incident and fills its Time. For a
// quarantine it returns how long the quarantine has left; for the other
// kinds it checks ttl and returns it.
func prepareIncident(in *Incident, ttl time.Duration, now time.Time) (time.Duration, error) {
	if err := checkFingerprint(in.Fingerprint); err != nil {
		return 0, err
	}
	if err := checkField("incident kind", in.Kind); err != nil {
		return 0, err
	}
	if in.Time.IsZero() {
		in.Time = now
	}
	if in.Kind == IncidentQuarantine {
		left := in.Until.Sub(now)
		if left < time.Millisecond {
			return 0, fmt.Errorf("protection: quarantine until %v: not in the future", in.Until)
		}
		return left, nil
	}
	return ttl, checkDuration("incident ttl", ttl)
}

// prepareThrottle checks a throttle and fills its Set time; it returns
// how long the throttle has left.
func prepareThrottle(t *Throttle, now time.Time) (time.Duration, error) {
	if err := checkField("throttle user", t.User); err != nil {
		return 0, err
	}
	if t.MaxRunning < 0 {
		return 0, fmt.Errorf("protection: throttle maxRunning %d: must not be negative", t.MaxRunning)
	}
	left := t.Until.Sub(now)
	if left < time.Millisecond {
		return 0, fmt.Errorf("protection: throttle until %v: not in the future", t.Until)
	}
	if t.Set.IsZero() {
		t.Set = now
	}
	return left, nil
}

func checkClaim(key, holder string, ttl time.Duration) error {
	if err := checkField("claim key", key); err != nil {
		return err
	}
	if err := checkField("claim holder", holder); err != nil {
		return err
	}
	return checkDuration("claim ttl", ttl)
}

// prepareAction checks an action, fills its Time and returns keep (at
// least 1).
func prepareAction(a *Action, keep int, now time.Time) (int, error) {
	if err := checkField("action", a.Action); err != nil {
		return 0, err
	}
	if a.Time.IsZero() {
		a.Time = now
	}
	return max(keep, 1), nil
}

// newestFirst orders incidents by Time, newest first (records of one
// instant keep their order).
func newestFirst(ins []Incident) {
	sort.SliceStable(ins, func(i, j int) bool { return ins[i].Time.After(ins[j].Time) })
}

func encodeJSON(what string, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", what, err)
	}
	return b, nil
}

func decodeJSON[T any](what string, s string) (T, error) {
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return v, fmt.Errorf("decoding %s: %w", what, err)
	}
	return v, nil
}

// keyPart makes a caller's string safe inside a key: bytes other than
// letters, digits and . _ - @ are percent-encoded (% too), so a ':', '{'
// or '}' can neither make two strings' keys meet nor move a key's hash
// tag.
func keyPart(s string) string {
	safe := func(c byte) bool {
		return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-' || c == '@'
	}
	i := 0
	for i < len(s) && safe(s[i]) {
		i++
	}
	if i == len(s) {
		return s
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for ; i < len(s); i++ {
		if c := s[i]; safe(c) {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/degraded"
	"github.com/switchyard-gw/switchyard/pkg/store"
)

// bundleDoc is how an uploaded bundle is kept in the shared store.
type bundleDoc struct {
	Files map[string]string `json:"files"`
}

// Publish compiles and tests b and, if it passes, stores it as the fleet's
// policy (every replica applies it within its sync interval) and applies it
// here at once.
func (e *Engine) Publish(ctx context.Context, st store.Documents, b *Bundle) (*Compiled, error) {
	if _, err := Compile(ctx, b); err != nil {
		return nil, err
	}
	doc := bundleDoc{Files: map[string]string{}}
	for n, c := range b.Files {
		doc.Files[n] = string(c)
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		rev, err := st.DocumentRevision(ctx, store.PolicyDoc)
		if err != nil {
			return nil, fmt.Errorf("storing the policy: %w", err)
		}
		if _, err = st.CASDocument(ctx, store.PolicyDoc, raw, rev); err == nil {
			break
		}
		if !errors.Is(err, store.ErrConflict) || attempt > 5 {
			return nil, fmt.Errorf("storing the policy: %w", err)
		}
	}
	return e.Replace(ctx, b)
}

// Sync applies policies published through any replica: it polls the
// store's policy revision and loads a new one when it appears. If the
// store loses the published policy (a Redis restarted empty, a failover
// that dropped the last writes: the revision went back), it writes back
// the one this replica holds, at its revision. Store failures are logged
// once per interval, not per poll.
func (e *Engine) Sync(ctx context.Context, st store.Documents, interval time.Duration) {
	s := e.newSyncer(ctx, st)
	every(ctx, interval, func() { s.step(ctx) })
}

// Degraded conditions of the policy sync.
const (
	condPolicyStore     = "policy-store-unreachable"
	condPolicyLost      = "policy-lost-by-store"
	condPolicyWriteBack = "policy-write-back-failed"
)

// syncer is one replica's view of the published policy.
type syncer struct {
	e    *Engine
	st   store.Documents
	deg  *degraded.Reporter
	seen int64  // the revision applied (or refused) last
	raw  []byte // the document at seen, written back if the store loses it
}

func (e *Engine) newSyncer(ctx context.Context, st store.Documents) *syncer {
	s := &syncer{e: e, st: st, deg: degraded.New(degraded.Options{Logger: e.log})}
	// What was published before this replica started was applied when it
	// started: counted as seen only if it is the policy in use, so one
	// published in between (after the start read it, before this poll
	// began) is still applied by the first step.
	if raw, rev, err := st.GetDocument(ctx, store.PolicyDoc); err == nil {
		if b, err := decodeBundle(raw); err == nil && e.Current() != nil && b.Version() == e.Current().Version {
			s.seen, s.raw = rev, raw
		}
	}
	return s
}

// step is one poll.
func (s *syncer) step(ctx context.Context) {
	rev, err := s.st.DocumentRevision(ctx, store.PolicyDoc)
	if err != nil {
		s.deg.Fail(condPolicyStore, "cannot read the published policy's revision; keeping the current policy", "error", err)
		return
	}
	s.deg.Recover(condPolicyStore, "the shared store answers again; following its published policy", "revision", rev)
	if rev == s.seen {
		return
	}
	if rev < s.seen && s.raw != nil {
		s.deg.Fail(condPolicyLost, "the shared store lost the published policy; writing back this replica's",
			"storedRevision", rev, "heldRevision", s.seen)
		ok, err := s.st.RestoreDocument(ctx, store.PolicyDoc, s.raw, s.seen)
		if err != nil {
			s.deg.Fail(condPolicyWriteBack, "cannot write the published policy back to the shared store", "error", err)
			return
		}
		s.deg.Recover(condPolicyWriteBack, "the published policy can be written back again")
		if ok {
			s.deg.Recover(condPolicyLost, "published policy written back to the shared store", "revision", s.seen)
			return
		}
		s.deg.Recover(condPolicyLost, "another replica wrote the published policy back first", "heldRevision", s.seen)
	}
	raw, rev, err := s.st.GetDocument(ctx, store.PolicyDoc)
	if err != nil {
		s.deg.Fail(condPolicyStore, "cannot read the published policy; keeping the current policy", "error", err)
		return
	}
	if rev == s.seen {
		return
	}
	s.seen, s.raw = rev, raw
	b, err := decodeBundle(raw)
	if err != nil {
		s.e.log.Error("ignoring a published policy", "revision", rev, "error", err)
		return
	}
	s.e.offer(ctx, b)
}

// LoadPublished returns the policy published in the store, if any.
func LoadPublished(ctx context.Context, st store.Documents) (*Bundle, error) {
	raw, _, err := st.GetDocument(ctx, store.PolicyDoc)
	if err != nil {
		return nil, err
	}
	return decodeBundle(raw)
}

func decodeBundle(raw []byte) (*Bundle, error) {
	var doc bundleDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	b := &Bundle{Files: map[string][]byte{}}
	for n, c := range doc.Files {
		b.Files[n] = []byte(c)
	}
	return b, nil
}

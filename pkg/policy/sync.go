package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

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
// store's policy revision and loads a new one when it appears.
func (e *Engine) Sync(ctx context.Context, st store.Documents, interval time.Duration) {
	var seen int64
	if rev, err := st.DocumentRevision(ctx, store.PolicyDoc); err == nil {
		seen = rev // what was published before this replica started is applied by Load
	}
	every(ctx, interval, func() {
		rev, err := st.DocumentRevision(ctx, store.PolicyDoc)
		if err != nil || rev == seen {
			return
		}
		raw, rev, err := st.GetDocument(ctx, store.PolicyDoc)
		if err != nil {
			return
		}
		seen = rev
		b, err := decodeBundle(raw)
		if err != nil {
			e.log.Error("ignoring a published policy", "revision", rev, "error", err)
			return
		}
		e.offer(ctx, b)
	})
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

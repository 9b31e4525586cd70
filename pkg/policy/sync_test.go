package policy

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/switchyard-gw/switchyard/pkg/store"
)

// lossyDocs is a store that can lose everything (a Redis restarted without
// persistence) or stop answering.
type lossyDocs struct {
	mu    sync.Mutex
	inner store.Documents
	down  error
}

func (l *lossyDocs) get() (store.Documents, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.inner, l.down
}

func (l *lossyDocs) lose() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inner = store.NewMemory().Documents
}

func (l *lossyDocs) setDown(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.down = err
}

func (l *lossyDocs) GetDocument(ctx context.Context, name string) ([]byte, int64, error) {
	d, err := l.get()
	if err != nil {
		return nil, 0, err
	}
	return d.GetDocument(ctx, name)
}

func (l *lossyDocs) CASDocument(ctx context.Context, name string, doc []byte, expect int64) (int64, error) {
	d, err := l.get()
	if err != nil {
		return 0, err
	}
	return d.CASDocument(ctx, name, doc, expect)
}

func (l *lossyDocs) DocumentRevision(ctx context.Context, name string) (int64, error) {
	d, err := l.get()
	if err != nil {
		return 0, err
	}
	return d.DocumentRevision(ctx, name)
}

func (l *lossyDocs) RestoreDocument(ctx context.Context, name string, doc []byte, rev int64) (bool, error) {
	d, err := l.get()
	if err != nil {
		return false, err
	}
	return d.RestoreDocument(ctx, name, doc, rev)
}

func TestSyncWritesBackAPolicyTheStoreLost(t *testing.T) {
	ctx := context.Background()
	st := &lossyDocs{inner: store.NewMemory().Documents}
	var logA, logB bytes.Buffer
	a := NewEngine(nil, slog.New(slog.NewTextHandler(&logA, nil)))
	b := NewEngine(nil, slog.New(slog.NewTextHandler(&logB, nil)))
	sa, sb := a.newSyncer(ctx, st), b.newSyncer(ctx, st)
	for _, g := range []string{"g1", "g2"} {
		if _, err := a.Publish(ctx, st, bundle(map[string]string{"r.rego": simple, "d.json": `{"switchyard":{"settings":{"group":"` + g + `"}}}`})); err != nil {
			t.Fatal(err)
		}
	}
	sa.step(ctx)
	sb.step(ctx)
	want, wantRev, err := st.GetDocument(ctx, store.PolicyDoc)
	if err != nil || wantRev != 2 || b.Current() == nil || b.Current().Version != a.Current().Version {
		t.Fatalf("before the loss: revision %d (%v), second replica on %v", wantRev, err, b.Current())
	}
	st.lose()
	for range 10 {
		sa.step(ctx)
		sb.step(ctx)
	}
	got, rev, err := st.GetDocument(ctx, store.PolicyDoc)
	if err != nil || rev != wantRev || !bytes.Equal(got, want) {
		t.Fatalf("after the loss the store holds revision %d (%v):\n%s\nwant revision %d:\n%s", rev, err, got, wantRev, want)
	}
	if n := strings.Count(logA.String(), "lost the published policy"); n != 1 {
		t.Errorf("the loss logged %d times, want once:\n%s", n, logA.String())
	}
	if n := strings.Count(logA.String(), "published policy written back"); n != 1 {
		t.Errorf("the write-back logged %d times, want once:\n%s", n, logA.String())
	}
	if strings.Contains(logB.String(), "lost") {
		t.Errorf("the second replica found the policy written back, yet logged:\n%s", logB.String())
	}
	// A replica that starts now loads the written-back policy.
	got2, err := LoadPublished(ctx, st)
	if err != nil || got2.Version() != a.Current().Version {
		t.Fatalf("a new replica loads %v (%v), want the policy written back", got2, err)
	}
}

func TestSyncLogsAnOutageOnce(t *testing.T) {
	ctx := context.Background()
	st := &lossyDocs{inner: store.NewMemory().Documents}
	var log bytes.Buffer
	e := NewEngine(nil, slog.New(slog.NewTextHandler(&log, nil)))
	s := e.newSyncer(ctx, st)
	st.setDown(errors.New("connection refused"))
	for range 50 {
		s.step(ctx)
	}
	st.setDown(nil)
	s.step(ctx)
	s.step(ctx)
	if n := strings.Count(log.String(), "cannot read the published policy"); n != 1 {
		t.Errorf("50 failed polls logged %d times, want once:\n%s", n, log.String())
	}
	if n := strings.Count(log.String(), "answers again"); n != 1 {
		t.Errorf("the recovery logged %d times, want once:\n%s", n, log.String())
	}
}

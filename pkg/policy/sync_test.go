package policy

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/switchyard-gw/switchyard/pkg/store"
	"github.com/switchyard-gw/switchyard/pkg/store/storetest"
)

func TestSyncWritesBackAPolicyTheStoreLost(t *testing.T) {
	ctx := context.Background()
	st := storetest.NewLossyDocuments()
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
	st.Lose()
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
	st := storetest.NewLossyDocuments()
	var log bytes.Buffer
	e := NewEngine(nil, slog.New(slog.NewTextHandler(&log, nil)))
	s := e.newSyncer(ctx, st)
	st.SetDown(errors.New("connection refused"))
	for range 50 {
		s.step(ctx)
	}
	st.SetDown(nil)
	s.step(ctx)
	s.step(ctx)
	if n := strings.Count(log.String(), "cannot read the published policy"); n != 1 {
		t.Errorf("50 failed polls logged %d times, want once:\n%s", n, log.String())
	}
	if n := strings.Count(log.String(), "answers again"); n != 1 {
		t.Errorf("the recovery logged %d times, want once:\n%s", n, log.String())
	}
}

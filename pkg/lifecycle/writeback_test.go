package lifecycle

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/store"
	"github.com/switchyard-gw/switchyard/pkg/store/storetest"
)

// replicas starts n managers on one lossy store, each logging to its
// own buffer.
func replicas(t *testing.T, n int) (*storetest.LossyDocuments, []*Manager, []*bytes.Buffer) {
	t.Helper()
	e := newEnv(t)
	st := storetest.NewLossyDocuments()
	var ms []*Manager
	var logs []*bytes.Buffer
	for range n {
		var buf bytes.Buffer
		m := New(Options{Config: e.m.o.Config, Store: st, Health: e.h, Logger: slog.New(slog.NewTextHandler(&buf, nil))})
		if err := m.Load(context.Background()); err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
		logs = append(logs, &buf)
	}
	return st, ms, logs
}

func storedFleet(t *testing.T, st store.Documents) (string, int64) {
	t.Helper()
	b, rev, err := st.GetDocument(context.Background(), store.FleetDoc)
	if err != nil {
		t.Fatalf("the store has no fleet: %v", err)
	}
	return string(b), rev
}

func TestFleetWrittenBackAfterTheStoreLostIt(t *testing.T) {
	ctx := context.Background()
	st, ms, logs := replicas(t, 2)
	if err := ms[0].SetState(ctx, "blue", fleet.Inactive); err != nil {
		t.Fatal(err)
	}
	ms[1].refresh(ctx)
	want, rev := storedFleet(t, st)
	if rev != 2 || ms[1].Fleet().Revision != 2 {
		t.Fatalf("before the loss: store at %d, second replica at %d; want 2", rev, ms[1].Fleet().Revision)
	}
	st.Lose()
	for range 20 { // 5 s of polls
		for _, m := range ms {
			m.refresh(ctx)
		}
	}
	got, gotRev := storedFleet(t, st)
	if got != want || gotRev != 2 {
		t.Fatalf("after the write-back the store holds revision %d:\n%s\nwant revision 2:\n%s", gotRev, got, want)
	}
	for i, m := range ms {
		if m.Fleet().Revision != 2 {
			t.Errorf("replica %d reinstalled: revision %d", i, m.Fleet().Revision)
		}
		if c, _ := m.Fleet().Cluster("blue"); c.State != fleet.Inactive {
			t.Errorf("replica %d: blue is %s, want the state set before the loss", i, c.State)
		}
	}
	// The loss is logged once by the replica that noticed it first, not per poll.
	log := logs[0].String()
	if n := strings.Count(log, "lost the fleet document"); n != 1 {
		t.Errorf("the loss logged %d times, want once:\n%s", n, log)
	}
	if n := strings.Count(log, "fleet written back"); n != 1 {
		t.Errorf("the write-back logged %d times, want once:\n%s", n, log)
	}
	if strings.Contains(logs[1].String(), "lost the fleet") {
		t.Errorf("the second replica found nothing lost after the first wrote back, yet logged:\n%s", logs[1].String())
	}
	// Changes go on from the restored revision.
	if err := ms[1].SetState(ctx, "blue", fleet.Active); err != nil {
		t.Fatal(err)
	}
	ms[0].refresh(ctx)
	if s := ms[0].Fleet(); s.Revision != 3 {
		t.Fatalf("after a change through the other replica: revision %d, want 3", s.Revision)
	}
}

// A replica that was behind when the store lost the fleet writes back its
// older copy first; the replica with the newest revision overwrites it and
// the one behind catches up.
func TestFleetWriteBackNewestRevisionWins(t *testing.T) {
	ctx := context.Background()
	st, ms, _ := replicas(t, 2)
	if err := ms[0].SetState(ctx, "blue", fleet.Inactive); err != nil {
		t.Fatal(err)
	}
	// ms[1] has not seen revision 2 yet.
	st.Lose()
	ms[1].refresh(ctx) // writes back revision 1
	if _, rev := storedFleet(t, st); rev != 1 {
		t.Fatalf("the replica behind wrote back revision %d, want its 1", rev)
	}
	ms[0].refresh(ctx) // sees 1 < 2: writes back 2
	ms[1].refresh(ctx) // catches up
	if _, rev := storedFleet(t, st); rev != 2 {
		t.Fatalf("store at revision %d, want the newest replica's 2", rev)
	}
	if c, _ := ms[1].Fleet().Cluster("blue"); c.State != fleet.Inactive || ms[1].Fleet().Revision != 2 {
		t.Fatalf("the replica behind did not catch up: blue %s at revision %d", c.State, ms[1].Fleet().Revision)
	}
}

// An admin change right after the loss (before a poll noticed it) writes
// the held fleet back and applies the change on top.
func TestFleetChangeAfterTheStoreLostIt(t *testing.T) {
	ctx := context.Background()
	st, ms, _ := replicas(t, 1)
	if err := ms[0].SetState(ctx, "blue", fleet.Inactive); err != nil {
		t.Fatal(err)
	}
	st.Lose()
	if err := ms[0].SetState(ctx, "green", fleet.Inactive); err != nil {
		t.Fatalf("a change after the loss: %v", err)
	}
	if _, rev := storedFleet(t, st); rev != 3 {
		t.Fatalf("store at revision %d, want 3 (the written-back 2, then the change)", rev)
	}
	for _, name := range []string{"blue", "green"} {
		if c, _ := ms[0].Fleet().Cluster(name); c.State != fleet.Inactive {
			t.Errorf("%s is %s, want inactive", name, c.State)
		}
	}
}

// While the store is unreachable the watch logs one line, not one per
// poll, and one line when it answers again.
func TestFleetWatchLogsAnOutageOnce(t *testing.T) {
	ctx := context.Background()
	st, ms, logs := replicas(t, 1)
	st.SetDown(errors.New("dial tcp 127.0.0.1:6379: connection refused"))
	for range 100 {
		ms[0].refresh(ctx)
	}
	st.SetDown(nil)
	for range 10 {
		ms[0].refresh(ctx)
	}
	log := logs[0].String()
	if n := strings.Count(log, "cannot read the fleet"); n != 1 {
		t.Errorf("100 failed polls logged %d times, want once:\n%s", n, log)
	}
	if n := strings.Count(log, "answers again"); n != 1 || !strings.Contains(log, "occurrences=100") {
		t.Errorf("the recovery logged %d times (want once, counting 100 occurrences):\n%s", n, log)
	}
}

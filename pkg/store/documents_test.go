package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
)

// TestDocumentsContract runs the same checks against every Documents
// implementation.
func TestDocumentsContract(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			documentsContract(t, b.s.Documents)
			restoreContract(t, b)
		})
	}
}

func documentsContract(t *testing.T, d Documents) {
	ctx := context.Background()
	t.Run("compare-and-swap", func(t *testing.T) {
		if _, _, err := d.GetDocument(ctx, FleetDoc); !errors.Is(err, ErrNotFound) {
			t.Fatalf("empty store: %v", err)
		}
		if rev, err := d.DocumentRevision(ctx, FleetDoc); err != nil || rev != 0 {
			t.Fatalf("empty revision %d %v", rev, err)
		}
		r1, err := d.CASDocument(ctx, FleetDoc, []byte(`{"v":1}`), 0)
		if err != nil || r1 != 1 {
			t.Fatalf("first write: %d %v", r1, err)
		}
		if _, err := d.CASDocument(ctx, FleetDoc, []byte(`{"v":"lost"}`), 0); !errors.Is(err, ErrConflict) {
			t.Fatalf("stale write: %v", err)
		}
		r2, err := d.CASDocument(ctx, FleetDoc, []byte(`{"v":2}`), r1)
		if err != nil || r2 != 2 {
			t.Fatalf("second write: %d %v", r2, err)
		}
		doc, rev, err := d.GetDocument(ctx, FleetDoc)
		if err != nil || rev != 2 || string(doc) != `{"v":2}` {
			t.Fatalf("read %s %d %v", doc, rev, err)
		}
		if _, _, err := d.GetDocument(ctx, PolicyDoc); !errors.Is(err, ErrNotFound) {
			t.Fatalf("documents are not separate: %v", err)
		}
		if rev, _ := d.DocumentRevision(ctx, FleetDoc); rev != 2 {
			t.Fatalf("revision %d", rev)
		}
	})
	t.Run("a read copy is the caller's", func(t *testing.T) {
		doc, _, err := d.GetDocument(ctx, FleetDoc)
		if err != nil {
			t.Fatal(err)
		}
		doc[0] = 'X'
		again, _, _ := d.GetDocument(ctx, FleetDoc)
		if string(again) != `{"v":2}` {
			t.Fatalf("changing a read copy changed the store: %s", again)
		}
	})
	t.Run("concurrent writers lose nothing", func(t *testing.T) {
		// Each writer adds its name to a list with read, modify, CAS and
		// retry on conflicts: every name must survive.
		const writers = 8
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for attempt := 0; attempt < 200; attempt++ {
					b, rev, err := d.GetDocument(ctx, "counter")
					var list []int
					switch {
					case errors.Is(err, ErrNotFound):
					case err != nil:
						errs <- err
						return
					default:
						if err := json.Unmarshal(b, &list); err != nil {
							errs <- err
							return
						}
					}
					nb, _ := json.Marshal(append(list, i))
					if _, err := d.CASDocument(ctx, "counter", nb, rev); err == nil {
						return
					} else if !errors.Is(err, ErrConflict) {
						errs <- err
						return
					}
				}
				errs <- errors.New("gave up after 200 conflicts")
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		b, rev, err := d.GetDocument(ctx, "counter")
		if err != nil {
			t.Fatal(err)
		}
		var list []int
		if err := json.Unmarshal(b, &list); err != nil || len(list) != writers || rev != writers {
			t.Fatalf("after %d writers: %s at revision %d (%v)", writers, b, rev, err)
		}
	})
}

// restoreContract checks RestoreDocument: a replica writes back what it
// holds after the store lost it, keeping the revision.
func restoreContract(t *testing.T, b backend) {
	ctx := context.Background()
	d := b.s.Documents
	const name = "restored"
	read := func(t *testing.T, wantDoc string, wantRev int64) {
		t.Helper()
		doc, rev, err := d.GetDocument(ctx, name)
		if err != nil || string(doc) != wantDoc || rev != wantRev {
			t.Fatalf("read %s at %d (%v), want %s at %d", doc, rev, err, wantDoc, wantRev)
		}
		if r, err := d.DocumentRevision(ctx, name); err != nil || r != wantRev {
			t.Fatalf("revision %d (%v), want %d", r, err, wantRev)
		}
	}
	t.Run("restore", func(t *testing.T) {
		steps := []struct {
			what     string
			doc      string
			rev      int64
			restored bool
			wantDoc  string
			wantRev  int64
		}{
			{"absent: stored at the revision the replica holds", `{"v":7}`, 7, true, `{"v":7}`, 7},
			{"same revision: kept (replicas holding it see nothing new)", `{"v":"other"}`, 7, false, `{"v":7}`, 7},
			{"lower revision: kept (a replica that was behind)", `{"v":5}`, 5, false, `{"v":7}`, 7},
			{"higher revision: stored (the store missed the last writes)", `{"v":9}`, 9, true, `{"v":9}`, 9},
		}
		for _, st := range steps {
			ok, err := d.RestoreDocument(ctx, name, []byte(st.doc), st.rev)
			if err != nil || ok != st.restored {
				t.Fatalf("%s: restored %v (%v), want %v", st.what, ok, err, st.restored)
			}
			read(t, st.wantDoc, st.wantRev)
		}
		if rev, err := d.CASDocument(ctx, name, []byte(`{"v":10}`), 9); err != nil || rev != 10 {
			t.Fatalf("a write after the restore: revision %d (%v), want 10", rev, err)
		}
	})
	t.Run("after a loss", func(t *testing.T) {
		b.lose(name)
		if _, _, err := d.GetDocument(ctx, name); !errors.Is(err, ErrNotFound) {
			t.Fatalf("after the loss: %v, want ErrNotFound", err)
		}
		ok, err := d.RestoreDocument(ctx, name, []byte(`{"v":10}`), 10)
		if err != nil || !ok {
			t.Fatalf("restore after the loss: %v %v", ok, err)
		}
		read(t, `{"v":10}`, 10)
	})
	t.Run("concurrent restorers: the newest revision wins", func(t *testing.T) {
		b.lose(name)
		var wg sync.WaitGroup
		for rev := int64(1); rev <= 8; rev++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := d.RestoreDocument(ctx, name, []byte(fmt.Sprintf(`{"v":%d}`, rev)), rev); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		read(t, `{"v":8}`, 8)
	})
	t.Run("bad revision", func(t *testing.T) {
		if _, err := d.RestoreDocument(ctx, name, []byte(`{}`), 0); err == nil {
			t.Fatal("revision 0 accepted")
		}
		read(t, `{"v":8}`, 8)
	})
}

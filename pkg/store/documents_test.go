package store

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
)

// TestDocumentsContract runs the same checks against every Documents
// implementation.
func TestDocumentsContract(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) { documentsContract(t, b.s.Documents) })
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

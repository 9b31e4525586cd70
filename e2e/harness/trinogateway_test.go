package harness_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/e2e/harness"
	"github.com/switchyard-gw/switchyard/e2e/trinosim"
)

// TestTrinoGateway runs Trino Gateway, with its state in PostgreSQL, in
// front of two simulated Trino coordinators and checks that queries are
// spread over both, that every request of the protocol (nextUri included)
// goes through the gateway, and that the gateway records query history.
// A missing jar, Java or PostgreSQL fails the test with the reason.
func TestTrinoGateway(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	simA, simB := newCountingSim(t, "a"), newCountingSim(t, "b")
	e := minimalEnv(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Log("\n" + harness.Dump(e.Procs(), 60))
		}
		begin := time.Now()
		e.StopAll()
		t.Logf("stopped trino gateway and postgres in %v", time.Since(begin).Round(time.Millisecond))
	})

	start := time.Now()
	pg, err := e.StartPostgres(ctx, "tg-postgres")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("postgres on %s ready in %v", pg.Addr, time.Since(start).Round(time.Millisecond))

	tg, err := e.StartTrinoGateway(ctx, "trino-gateway", pg, []harness.TGBackend{
		{Name: "sim-a", URL: simA.URL},
		{Name: "sim-b", URL: simB.URL},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("trino gateway %s on %s: ready after %v, both backends healthy after %v",
		e.TrinoGatewayVersion(), tg.URL, tg.Started.Round(time.Millisecond), tg.Ready.Round(time.Millisecond))

	const queries = 20
	for i := range queries {
		rows, err := harness.RunQuery(ctx, tg.URL, "harness", "SELECT "+strconv.Itoa(i), nil)
		if err != nil {
			t.Fatalf("query %d through trino gateway: %v", i, err)
		}
		if want := simPages * simRows; len(rows) != want {
			t.Fatalf("query %d: %d rows, want %d", i, len(rows), want)
		}
	}

	a, b := simA.snapshot(), simB.snapshot()
	t.Logf("sim-a: %+v, sim-b: %+v", a, b)
	if a.submits == 0 || b.submits == 0 {
		t.Errorf("queries were not spread over both backends: sim-a got %d, sim-b got %d", a.submits, b.submits)
	}
	if a.submits+b.submits != queries {
		t.Errorf("backends got %d submissions, want %d", a.submits+b.submits, queries)
	}
	if a.follows == 0 || b.follows == 0 {
		t.Errorf("no nextUri requests reached a backend: sim-a %d, sim-b %d", a.follows, b.follows)
	}
	if a.direct+b.direct != 0 {
		t.Errorf("%d statement requests reached a backend without passing through trino gateway", a.direct+b.direct)
	}

	// Trino Gateway records each query (id, backend) in PostgreSQL before
	// it answers the submission.
	out, err := pg.Psql(ctx, pg.Database, pg.User, "SELECT count(*) FROM query_history")
	if err != nil {
		t.Fatal(err)
	}
	if out != strconv.Itoa(queries) {
		t.Errorf("query_history has %s rows, want %d", out, queries)
	}
	out, err = pg.Psql(ctx, pg.Database, pg.User, "SELECT count(*) FROM gateway_backend WHERE active")
	if err != nil {
		t.Fatal(err)
	}
	if out != "2" {
		t.Errorf("gateway_backend has %s active rows, want 2", out)
	}
}

const (
	simPages = 2
	simRows  = 5
)

type simCounts struct {
	submits int // POST /v1/statement
	follows int // GET or DELETE on a nextUri
	direct  int // statement requests without the gateway's Via header
}

type countingSim struct {
	*httptest.Server
	mu sync.Mutex
	n  simCounts
}

func (s *countingSim) snapshot() simCounts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// newCountingSim serves the Trino protocol simulator on loopback and counts
// the statement requests it receives.
func newCountingSim(t *testing.T, name string) *countingSim {
	t.Helper()
	s := &countingSim{}
	sim := trinosim.New(trinosim.Options{Name: name, Pages: simPages, RowsPerPage: simRows, Columns: 2})
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/statement") {
			s.mu.Lock()
			if r.URL.Path == "/v1/statement" && r.Method == http.MethodPost {
				s.n.submits++
			} else {
				s.n.follows++
			}
			if !strings.Contains(r.Header.Get("Via"), "TrinoGateway") {
				s.n.direct++
			}
			s.mu.Unlock()
		}
		sim.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

// minimalEnv is an Env for Trino Gateway and PostgreSQL only: it needs
// deploy/setup-trino-gateway.sh and the Java recorded by deploy/setup.sh,
// not Trino, Envoy or a switchyard build.
func minimalEnv(t *testing.T) *harness.Env {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cache := os.Getenv("SWITCHYARD_CACHE")
	if cache == "" {
		cache = filepath.Join(root, ".cache")
	}
	jh, err := os.ReadFile(filepath.Join(cache, "java_home"))
	if err != nil {
		t.Fatalf("no Java recorded for Trino Gateway (%v): run make setup (deploy/setup.sh) and deploy/setup-trino-gateway.sh", err)
	}
	e := &harness.Env{Root: root, Cache: cache, JavaHome: strings.TrimSpace(string(jh)), Dir: t.TempDir()}
	if _, err := os.Stat(e.TrinoGatewayJar()); err != nil {
		t.Fatalf("trino gateway is not installed (%v): run deploy/setup-trino-gateway.sh", err)
	}
	if _, err := harness.PostgresBinDir(); err != nil {
		t.Fatal(err)
	}
	return e
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find the repository root (go.mod)")
		}
		dir = parent
	}
}

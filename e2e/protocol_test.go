package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/e2e/harness"
)

// trinoByName maps the gateway's cluster names to the shared clusters.
func trinoByName(name string) *harness.Trino {
	return map[string]*harness.Trino{"a": trinoA, "b": trinoB}[name]
}

// ownerOf reads the owning cluster from the gateway prefix of a nextUri.
func ownerOf(t *testing.T, nextURI string) string {
	t.Helper()
	cluster, _ := routeOf(t, nextURI)
	return cluster
}

// waitQueryState polls the owning cluster until the query reaches one of
// the states.
func waitQueryState(ctx context.Context, tr *harness.Trino, id string, states ...string) (harness.QueryInfo, error) {
	var found harness.QueryInfo
	err := harness.Poll(ctx, "query "+id+" to reach "+strings.Join(states, "|"), 60*time.Second, 200*time.Millisecond, func() error {
		qs, err := tr.Queries(ctx)
		if err != nil {
			return err
		}
		for _, q := range qs {
			if q.QueryID == id {
				found = q
				for _, s := range states {
					if q.State == s {
						return nil
					}
				}
				return fmt.Errorf("state %s", q.State)
			}
		}
		return fmt.Errorf("not listed on %s", tr.Name)
	})
	return found, err
}

// advanceUntilRunning follows nextUri until the query is RUNNING and says
// how many 502-504 answers it retried on the way (harness.FetchRetries).
func advanceUntilRunning(ctx context.Context, qr *harness.QueryResults) (*harness.QueryResults, int, error) {
	retried := 0
	err := harness.Poll(ctx, "query "+qr.ID+" to run", 60*time.Second, 10*time.Millisecond, func() error {
		if qr.Error != nil {
			return fmt.Errorf("query failed: %s", qr.Error.Message)
		}
		if qr.Stats.State == "RUNNING" {
			return nil
		}
		next, n, err := harness.FetchRetries(ctx, http.MethodGet, qr.NextURI)
		retried += n
		if err != nil {
			return err
		}
		qr = next
		return fmt.Errorf("state %s", qr.Stats.State)
	})
	return qr, retried, err
}

// routeOf reads the cluster and coordinator from the gateway prefix of a
// nextUri (/_sy/{cluster}/{coordinator}/...).
func routeOf(t *testing.T, nextURI string) (cluster, coordinator string) {
	t.Helper()
	u, err := url.Parse(nextURI)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(u.Path, "/")
	if len(parts) < 4 || parts[1] != "_sy" {
		t.Fatalf("nextUri %s has no gateway prefix /_sy/{cluster}/{coordinator}", nextURI)
	}
	return parts[2], parts[3]
}

// heldSQL stays RUNNING until its client reads the results: its 300,000
// rows fill the coordinator's output buffers, and then it waits (using no
// CPU) for the client to read them.
const heldSQL = "SELECT * FROM tpch.sf1.lineitem LIMIT 300000"

// holdQuery submits heldSQL through the gateway until a submission lands
// where lands says (at most 10 submissions; the others are cancelled),
// advances it to RUNNING and past its first executing page, and returns
// it with the rows received so far in Data, with the number of 502-504
// answers retried on the way. Past the first page, the gateway never
// resubmits the query if its coordinator dies (rows may have reached the
// client), so its next poll fails with COORDINATOR_UNREACHABLE.
func holdQuery(t *testing.T, server, where string, lands func(cluster, coordinator string) bool) (*harness.QueryResults, int) {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		qr, err := harness.Submit(ctx, server, "e2e", heldSQL, nil)
		if err != nil {
			t.Fatal(err)
		}
		if qr.Error != nil {
			t.Fatalf("submission %d: %s: %s", i, qr.Error.ErrorName, qr.Error.Message)
		}
		if lands(routeOf(t, qr.NextURI)) {
			qr, retried, err := advanceUntilRunning(ctx, qr)
			if err != nil {
				t.Fatal(err)
			}
			for resubmittable(qr.NextURI) {
				next, n, err := harness.FetchRetries(ctx, http.MethodGet, qr.NextURI)
				if err != nil {
					t.Fatal(err)
				}
				retried += n
				next.Data = append(qr.Data, next.Data...)
				qr = next
			}
			return qr, retried
		}
		if _, err := harness.Fetch(ctx, http.MethodDelete, qr.NextURI); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatalf("no query landed %s in 10 submissions", where)
	return nil, 0
}

// resubmittable reports whether a poll of nextURI is one the gateway
// would answer by resubmitting the query if its coordinator were dead:
// the queued phase or the first executing page.
func resubmittable(nextURI string) bool {
	return strings.Contains(nextURI, "/v1/statement/queued/") || (strings.Contains(nextURI, "/v1/statement/executing/") && strings.HasSuffix(nextURI, "/0"))
}

// requireCoordinatorUnreachable polls a held query after its coordinator
// was killed: the poll must end (within a minute: a hang detector) with a
// FAILED QueryResults, HTTP 200 at the first answer (no 502-504 for the
// client to retry), whose error is COORDINATOR_UNREACHABLE with a message.
// It returns how long the poll took.
func requireCoordinatorUnreachable(t *testing.T, held *harness.QueryResults) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	qr, retried, err := harness.FetchRetries(ctx, http.MethodGet, held.NextURI)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("the poll of query %s held on the killed coordinator ended after %v with %v (%d 502-504 answers retried); want a FAILED QueryResults with COORDINATOR_UNREACHABLE", held.ID, took.Round(time.Millisecond), err, retried)
	}
	if retried != 0 {
		t.Errorf("the poll of query %s was answered 502-504 %d times before its QueryResults; want the Trino-shaped error at once", held.ID, retried)
	}
	if qr.Error == nil || qr.Error.ErrorName != "COORDINATOR_UNREACHABLE" || qr.Error.Message == "" || qr.Stats.State != "FAILED" {
		t.Fatalf("the poll of query %s held on the killed coordinator answered state %q, error %+v; want FAILED with COORDINATOR_UNREACHABLE and a message", held.ID, qr.Stats.State, qr.Error)
	}
	if qr.NextURI != "" {
		t.Errorf("the failed poll of query %s still has a nextUri %s", held.ID, qr.NextURI)
	}
	t.Logf("query %s, RUNNING on the killed coordinator, failed at its next poll after %v: %s: %s", held.ID, took.Round(time.Millisecond), qr.Error.ErrorName, qr.Error.Message)
	return took
}

// slowSQL runs for minutes: tpch generates sf100 lineitem row by row.
const slowSQL = "SELECT count(*) FROM tpch.sf100.lineitem WHERE comment LIKE '%%e2e-%s%%'"

// TestCancelReachesOwner cancels running queries with a DELETE on nextUri,
// once on the prefixed URI the server returned (routed by path) and once
// with the prefix removed (routed through the shared store), and checks
// that each query ends on the cluster that owns it.
func TestCancelReachesOwner(t *testing.T) {
	g := startGateway(t, 1, twoClusters(deadURL(t)))
	ctx := context.Background()
	for _, stripPrefix := range []bool{false, true} {
		t.Run(fmt.Sprintf("stripPrefix=%v", stripPrefix), func(t *testing.T) {
			qr, err := harness.Submit(ctx, g.URL(0), "e2e", fmt.Sprintf(slowSQL, t.Name()), nil)
			if err != nil {
				t.Fatal(err)
			}
			owner := trinoByName(ownerOf(t, qr.NextURI))
			if qr, _, err = advanceUntilRunning(ctx, qr); err != nil {
				t.Fatal(err)
			}
			next := qr.NextURI
			if stripPrefix {
				next = stripGatewayPrefix(t, next)
			}
			if _, err := harness.Fetch(ctx, http.MethodDelete, next); err != nil {
				t.Fatalf("DELETE %s: %v", next, err)
			}
			q, err := waitQueryState(ctx, owner, qr.ID, "FAILED")
			if err != nil {
				t.Fatal(err)
			}
			if q.ErrorCode == nil || q.ErrorCode.Name != "USER_CANCELED" {
				t.Fatalf("query %s on %s ended with %+v, want USER_CANCELED", qr.ID, owner.Name, q.ErrorCode)
			}
		})
	}
}

func stripGatewayPrefix(t *testing.T, uri string) string {
	t.Helper()
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.SplitN(u.Path, "/", 5) // "", "_sy", cluster, coordinator, rest
	if len(parts) != 5 || parts[1] != "_sy" {
		t.Fatalf("no gateway prefix in %s", uri)
	}
	u.Path = "/" + parts[4]
	return u.String()
}

// withHost points a URI at another gateway address.
func withHost(t *testing.T, uri, host string) string {
	t.Helper()
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = host
	return u.String()
}

// TestReplicasShareQueries runs two control-plane replicas and two Envoys
// on one Redis: queries submitted through Envoy 1 are followed through
// Envoy 2, by their prefixed nextUri (stateless) and with the prefix
// removed (the replica behind Envoy 2 finds the owner in Redis), with
// results equal to the cluster's own; /v1/query/{id} through Envoy 2
// reaches the owner too. Both clusters own some of the queries (asserted).
func TestReplicasShareQueries(t *testing.T) {
	g := startGateway(t, 2, twoClusters(deadURL(t)))
	ctx := context.Background()
	want, err := harness.RunQuery(ctx, trinoA.URL, "direct", "SELECT name FROM tpch.tiny.nation ORDER BY name", nil)
	if err != nil {
		t.Fatal(err)
	}
	envoy2 := g.cps[1].ListenerAddr
	for _, stripPrefix := range []bool{false, true} {
		t.Run(fmt.Sprintf("stripPrefix=%v", stripPrefix), func(t *testing.T) {
			// At least 4 submissions, and more (up to 12) until each
			// cluster owns at least one: both owners' follow-ups must
			// cross replicas.
			owners := map[string]int{}
			for i := 0; i < 12 && (i < 4 || owners["a"] == 0 || owners["b"] == 0); i++ {
				qr, err := harness.Submit(ctx, g.URL(0), "e2e", "SELECT name FROM tpch.tiny.nation ORDER BY name", nil)
				if err != nil {
					t.Fatal(err)
				}
				owner := ownerOf(t, qr.NextURI)
				owners[owner]++
				var rows [][]any
				for qr.NextURI != "" {
					next := withHost(t, qr.NextURI, envoy2)
					if stripPrefix {
						next = stripGatewayPrefix(t, next)
					}
					if qr, err = harness.Fetch(ctx, http.MethodGet, next); err != nil {
						t.Fatalf("submission %d (owner %s): %v", i, owner, err)
					}
					if qr.Error != nil {
						t.Fatalf("submission %d (owner %s): %s: %s", i, owner, qr.Error.ErrorName, qr.Error.Message)
					}
					rows = append(rows, qr.Data...)
				}
				if fmt.Sprint(rows) != fmt.Sprint(want) {
					t.Fatalf("submission %d (owner %s): rows %v, want %v", i, owner, rows, want)
				}
				// The REST API of the owner through the other replica.
				req, _ := http.NewRequest(http.MethodGet, "http://"+envoy2+"/v1/query/"+qr.ID, nil)
				req.Header.Set("X-Trino-User", "e2e")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("GET /v1/query/%s through envoy 2: HTTP %d", qr.ID, resp.StatusCode)
				}
			}
			if owners["a"] == 0 || owners["b"] == 0 {
				t.Fatalf("owners of the submissions %v; want both a and b to own at least one", owners)
			}
			t.Logf("submissions per owner: %v", owners)
		})
	}
}

// TestLargeResult streams 100,000 rows through the gateway with the trino
// CLI and compares them with the same query sent straight to a cluster.
// Polls carry the gateway prefix, so ext_proc sees only the submission.
func TestLargeResult(t *testing.T) {
	g := startGateway(t, 1, twoClusters(deadURL(t)))
	const sql = "SELECT orderkey, custkey, orderstatus, totalprice, orderdate, clerk FROM tpch.sf1.orders WHERE orderkey <= 400000 ORDER BY orderkey"
	before := extProcStreams(t, g.envoys[0])
	viaGateway, err := runCLI(t, g.URL(0), "--output-format", "CSV", "--execute", sql)
	if err != nil {
		t.Fatal(err)
	}
	after := extProcStreams(t, g.envoys[0])
	direct, err := runCLI(t, trinoA.URL, "--output-format", "CSV", "--execute", sql)
	if err != nil {
		t.Fatal(err)
	}
	n := strings.Count(viaGateway, "\n")
	if n != 100000 {
		t.Fatalf("gateway returned %d rows, want 100000", n)
	}
	if h1, h2 := digest(viaGateway), digest(direct); h1 != h2 {
		t.Fatalf("gateway result digest %s differs from direct %s", h1, h2)
	}
	if after-before != 1 {
		t.Errorf("ext_proc streams for one query: %d, want 1 (the submission only; polls are routed by path)", after-before)
	}
}

func digest(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:8])
}

// extProcStreams reads Envoy's count of ext_proc streams.
func extProcStreams(t *testing.T, en *harness.Envoy) int {
	t.Helper()
	body, err := en.Admin("/stats?filter=ext_proc.streams_started")
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for _, line := range strings.Split(body, "\n") {
		if _, v, ok := strings.Cut(line, "streams_started: "); ok {
			fmt.Sscan(v, &n)
		}
	}
	return n
}

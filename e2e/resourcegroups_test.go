package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/e2e/harness"
	"github.com/switchyard-gw/switchyard/pkg/trino"
)

// TestResourceGroups renders resource-groups.json from a policy's workload
// classes (testdata/resource-groups) with the real CLI, starts a Trino
// with it, and checks against that Trino, with no gateway in between:
//   - Trino accepts the file (it refuses to start on a bad one) and reads
//     every rendered limit as meant (/v1/resourceGroupState);
//   - a query tagged switchyard-class=<class> lands in the class's group
//     (per user where the class has per-user groups), any other in the
//     unclassified group (resourceGroupId of /v1/query/{id});
//   - Trino enforces the per-user limit: a user's second analyst query
//     queues behind her first while another user's runs.
func TestResourceGroups(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, env.Bin, "trino", "resource-groups", "--policy", filepath.Join("testdata", "resource-groups"))
	rendered, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("switchyard trino resource-groups: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	// The harness renders Files as templates.
	if strings.Contains(string(rendered), "{{") {
		t.Fatalf("the rendered file contains template delimiters:\n%s", rendered)
	}
	tr, err := env.StartTrino("trino-rg", harness.TrinoOptions{Files: map[string]string{
		"resource-groups.properties": "resource-groups.configuration-manager=file\nresource-groups.config-file={{.Etc}}/resource-groups.json\n",
		"resource-groups.json":       string(rendered),
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Stop)
	if err := tr.WaitReady(ctx, 3*time.Minute); err != nil {
		t.Fatalf("%v\n%s", err, rendered)
	}

	t.Run("selection", func(t *testing.T) {
		for _, tt := range []struct {
			name, user, tags string
			want             []string
		}{
			{"class with per-user groups", "alice", "switchyard-class=analyst", []string{"switchyard", "analyst", "alice"}},
			{"another user of it", "bob", "switchyard-class=analyst", []string{"switchyard", "analyst", "bob"}},
			{"class without per-user groups", "carol", "switchyard-class=etl", []string{"switchyard", "etl"}},
			{"other tags besides the class's", "carol", "team=ops,switchyard-class=etl", []string{"switchyard", "etl"}},
			{"no tag", "dave", "", []string{"switchyard", "unclassified"}},
			{"another tag", "dave", "team=ops", []string{"switchyard", "unclassified"}},
			{"an unknown class", "dave", "switchyard-class=nope", []string{"switchyard", "unclassified"}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				q := startQuery(ctx, t, tr, tt.user, tt.tags, "SELECT count(*) FROM tpch.tiny.nation")
				if err := q.wait(ctx); err != nil {
					t.Fatal(err)
				}
				if got := queryInfo(ctx, t, tr, q.id).ResourceGroupID; !slices.Equal(got, tt.want) {
					t.Errorf("resourceGroupId %v, want %v", got, tt.want)
				}
			})
		}
	})

	t.Run("limits as rendered", func(t *testing.T) {
		// The root's share is 100%: the whole memory pool.
		pool, err := trino.ParseDataSize(groupState(ctx, t, tr, "switchyard").SoftMemoryLimit)
		if err != nil || pool <= 0 {
			t.Fatalf("the root's softMemoryLimit: %d bytes, %v", pool, err)
		}
		for _, tt := range []struct {
			group                      string
			policy                     string
			weight, soft, hard, queued int
			memory                     string // as in the policy: a share of the pool, or a size
		}{
			{"switchyard", "weighted_fair", 1, 1000, 1000, 3000, "100%"},
			{"switchyard/analyst", "fair", 51, 4, 4, 1000, "40%"},
			{"switchyard/analyst/alice", "fair", 1, 1, 1, 1000, "100%"},
			{"switchyard/etl", "query_priority", 11, 2, 3, 1000, "512MB"},
			{"switchyard/unclassified", "fair", 1, 50, 50, 1000, "20%"},
		} {
			g := groupState(ctx, t, tr, tt.group)
			memory, err := trino.ParseDataSize(g.SoftMemoryLimit)
			if err != nil {
				t.Errorf("%s: softMemoryLimit: %v", tt.group, err)
			}
			want, err := trino.ParseDataSize(tt.memory)
			if pct, ok := strings.CutSuffix(tt.memory, "%"); ok {
				var f float64
				_, err = fmt.Sscan(pct, &f)
				want = int64(float64(pool) * f / 100)
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.EqualFold(g.SchedulingPolicy, tt.policy) || g.SchedulingWeight != tt.weight || g.SoftConcurrencyLimit != tt.soft ||
				g.HardConcurrencyLimit != tt.hard || g.MaxQueuedQueries != tt.queued || memory < want-1 || memory > want+1 {
				t.Errorf("%s: Trino has %+v, want policy %s, weight %d, soft %d, hard %d, maxQueued %d, memory %s (%d bytes)",
					tt.group, g, tt.policy, tt.weight, tt.soft, tt.hard, tt.queued, tt.memory, want)
			}
		}
	})

	t.Run("per-user limit enforced", func(t *testing.T) {
		analyst := "switchyard-class=analyst"
		// A scan far too long to finish: cancelled below.
		blocker := startQuery(ctx, t, tr, "alice", analyst, "SELECT count(*) FROM tpch.sf1000.lineitem")
		defer cancelQuery(tr, blocker.id)
		waitState(ctx, t, tr, blocker.id, "RUNNING")

		second := startQuery(ctx, t, tr, "alice", analyst, "SELECT count(*) FROM tpch.tiny.region")
		defer cancelQuery(tr, second.id)
		waitState(ctx, t, tr, second.id, "QUEUED")
		// Another user of the class is not held up ...
		other := startQuery(ctx, t, tr, "bob", analyst, "SELECT count(*) FROM tpch.tiny.region")
		if err := other.wait(ctx); err != nil {
			t.Fatal(err)
		}
		// ... while alice's second query still waits in her group.
		if s := queryInfo(ctx, t, tr, second.id).State; s != "QUEUED" {
			t.Fatalf("alice's second query is %s while her first runs, want QUEUED", s)
		}
		if g := groupState(ctx, t, tr, "switchyard/analyst/alice"); g.NumRunningQueries != 1 || g.NumQueuedQueries != 1 {
			t.Errorf("alice's group runs %d and queues %d, want 1 and 1", g.NumRunningQueries, g.NumQueuedQueries)
		}
		cancelQuery(tr, blocker.id)
		if err := second.wait(ctx); err != nil {
			t.Fatalf("alice's second query, once her first ended: %v", err)
		}
		if err := blocker.wait(ctx); err == nil || !strings.Contains(err.Error(), "USER_CANCELED") {
			t.Errorf("the blocker ended with %v, want USER_CANCELED", err)
		}
	})

	// One definition, both layers: a query the gateway governs carries
	// its class's client tag, so the cluster runs it in the class's
	// resource group (the user's own subgroup for analysts). (Not a
	// subtest: the gateway's files are named after the test.)
	{
		cfg := harness.GatewayConfig{
			DefaultGroup: "adhoc", Groups: []string{"adhoc"},
			Clusters: []harness.ClusterSpec{{Name: "rg", Group: "adhoc", Coordinators: []harness.CoordinatorSpec{{URL: tr.URL}}}},
			Extra:    map[string]any{"policy": map[string]any{"dir": filepath.Join(env.Root, "e2e", "testdata", "resource-groups")}},
		}
		g := startGatewayWithClusters(t, cfg, "trino_rg")
		for _, tt := range []struct {
			user, source string
			want         []string
		}{
			{"alice", "analyst", []string{"switchyard", "analyst", "alice"}},
			{"carol", "etl", []string{"switchyard", "etl"}},
			{"dave", "trino-cli", []string{"switchyard", "unclassified"}},
		} {
			qr, err := harness.Submit(ctx, g.URL(0), tt.user, "SELECT count(*) FROM tpch.tiny.nation", map[string]string{"X-Trino-Source": tt.source})
			if err != nil {
				t.Fatal(err)
			}
			q := &clientQuery{id: qr.ID, done: make(chan struct{})}
			go q.follow(ctx, qr)
			if err := q.wait(ctx); err != nil {
				t.Fatalf("%s's query through the gateway: %v", tt.user, err)
			}
			if got := queryInfo(ctx, t, tr, q.id).ResourceGroupID; !slices.Equal(got, tt.want) {
				t.Errorf("%s's %s query through the gateway ran in resource group %v, want %v", tt.user, tt.source, got, tt.want)
			}
		}
	}
}

// clientQuery is a query a client follows (GET nextUri) to the end in the
// background: Trino dispatches a query only when its client first follows
// nextUri, and queues it in its resource group from then on.
type clientQuery struct {
	id   string
	done chan struct{}
	err  error
}

func startQuery(ctx context.Context, t *testing.T, tr *harness.Trino, user, tags, sql string) *clientQuery {
	t.Helper()
	headers := map[string]string{}
	if tags != "" {
		headers["X-Trino-Client-Tags"] = tags
	}
	qr, err := harness.Submit(ctx, tr.URL, user, sql, headers)
	if err != nil {
		t.Fatal(err)
	}
	q := &clientQuery{id: qr.ID, done: make(chan struct{})}
	go q.follow(ctx, qr)
	return q
}

// follow polls the query to its end; q.id is then the last ID the query
// had (a query the gateway queued starts with the gateway's ID).
func (q *clientQuery) follow(ctx context.Context, qr *harness.QueryResults) {
	defer close(q.done)
	var err error
	for qr.Error == nil && qr.NextURI != "" {
		if qr, err = harness.Fetch(ctx, http.MethodGet, qr.NextURI); err != nil {
			q.err = err
			return
		}
	}
	q.id = qr.ID // read by others only once done is closed
	if qr.Error != nil {
		q.err = fmt.Errorf("query %s failed: %s: %s", q.id, qr.Error.ErrorName, qr.Error.Message)
	}
}

// wait waits for the query's end (bounded by ctx) and returns its error.
func (q *clientQuery) wait(ctx context.Context) error {
	select {
	case <-q.done:
		return q.err
	case <-ctx.Done():
		return fmt.Errorf("query %s: %w", q.id, ctx.Err())
	}
}

// cancelQuery cancels a query (DELETE /v1/query/{id}); a finished one is
// left as it is.
func cancelQuery(tr *harness.Trino, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, tr.URL+"/v1/query/"+id, nil)
	if err != nil {
		return
	}
	req.Header.Set("X-Trino-User", "harness")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
}

// trinoQueryInfo is the part of GET /v1/query/{id} the test reads.
type trinoQueryInfo struct {
	State           string   `json:"state"`
	ResourceGroupID []string `json:"resourceGroupId"`
}

func queryInfo(ctx context.Context, t *testing.T, tr *harness.Trino, id string) trinoQueryInfo {
	t.Helper()
	var qi trinoQueryInfo
	if err := getJSON(ctx, tr, "/v1/query/"+id, &qi); err != nil {
		t.Fatal(err)
	}
	return qi
}

// waitState polls a query until it is in state.
func waitState(ctx context.Context, t *testing.T, tr *harness.Trino, id, state string) {
	t.Helper()
	err := harness.Poll(ctx, "query "+id+" to be "+state, time.Minute, 100*time.Millisecond, func() error {
		var qi trinoQueryInfo
		if err := getJSON(ctx, tr, "/v1/query/"+id, &qi); err != nil {
			return err
		}
		if qi.State != state {
			return fmt.Errorf("state %s", qi.State)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// trinoGroupState is the part of GET /v1/resourceGroupState/{id} the test
// reads: the limits Trino applies to a group, and its queries.
type trinoGroupState struct {
	SchedulingPolicy     string `json:"schedulingPolicy"`
	SchedulingWeight     int    `json:"schedulingWeight"`
	SoftMemoryLimit      string `json:"softMemoryLimit"`
	SoftConcurrencyLimit int    `json:"softConcurrencyLimit"`
	HardConcurrencyLimit int    `json:"hardConcurrencyLimit"`
	MaxQueuedQueries     int    `json:"maxQueuedQueries"`
	NumQueuedQueries     int    `json:"numQueuedQueries"`
	NumRunningQueries    int    `json:"numRunningQueries"`
}

// groupState reads a group ("switchyard/analyst/alice"); it exists once a
// query was selected into it.
func groupState(ctx context.Context, t *testing.T, tr *harness.Trino, group string) trinoGroupState {
	t.Helper()
	var g trinoGroupState
	if err := getJSON(ctx, tr, "/v1/resourceGroupState/"+group, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

func getJSON(ctx context.Context, tr *harness.Trino, path string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, tr.URL+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-Trino-User", "harness")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d: %.200s", path, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %v: %.200s", path, err, body)
	}
	return nil
}

package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/coordinator"
	"github.com/switchyard-gw/switchyard/pkg/events"
	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/trino"
)

// How a fake coordinator treats X-Forwarded-* headers.
const (
	forwardedProcess = "process" // http-server.process-forwarded=true: URIs from the headers
	forwardedRefuse  = "refuse"  // process-forwarded=false: HTTP 406, as airlift answers
	forwardedIgnore  = "ignore"  // URIs from its own address, whatever the headers say
)

// fakeNode answers like a Trino 476 node: /v1/info, /v1/status and
// PUT /v1/info/state on every node; the statement protocol and
// /v1/query/{id} on a coordinator.
type fakeNode struct {
	t           *testing.T
	srv         *httptest.Server
	id          string
	coordinator bool

	mu      sync.Mutex
	cfg     fakeConfig // changed with set once the server runs
	url     string     // srv.URL, for the other nodes' handlers
	seq     int
	queries map[string]*fakeQuery
	log     []string // "METHOD path" of every request
	puts    []string // bodies of PUT /v1/info/state
	deleted []string // query IDs cancelled
	reads   []string // query IDs read with GET /v1/query/{id}
	forward []http.Header
}

// fakeConfig is how a fake node behaves.
type fakeConfig struct {
	version    string
	state      string // in system.runtime.nodes
	starting   bool
	heap, pool int64
	statusFail bool // /v1/status answers 500
	shutdown   int  // the answer to PUT /v1/info/state

	// Coordinator only.
	forwarded   string
	nodes       []*fakeNode // system.runtime.nodes (the coordinator included)
	retryPolicy string
	exchangeErr string    // the GROUP BY query fails with this message
	oomKills    int       // /metrics: queries the low-memory killer killed
	events      *EventLog // receives each finished query's event when set
	eventsAs    string    // the cluster the events come from
}

type fakeQuery struct {
	sql   string
	state string // QUEUED, RUNNING, FINISHED, FAILED
}

const fakeVersion = "476"

func newFakeNode(t *testing.T, id string, coord bool) *fakeNode {
	t.Helper()
	n := &fakeNode{
		t: t, id: id, coordinator: coord,
		cfg: fakeConfig{
			version: fakeVersion, state: "active", heap: testHeap, pool: testPool, shutdown: http.StatusBadRequest,
			forwarded: forwardedProcess, retryPolicy: "TASK",
		},
		queries: map[string]*fakeQuery{},
	}
	n.srv = httptest.NewServer(http.HandlerFunc(n.serve))
	t.Cleanup(n.srv.Close)
	n.mu.Lock()
	n.url = n.srv.URL
	n.mu.Unlock()
	return n
}

// set changes the node's behaviour (under its lock: its handlers run on
// other goroutines).
func (n *fakeNode) set(f func(c *fakeConfig)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	f(&n.cfg)
}

func (n *fakeNode) config() (fakeConfig, string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cfg, n.url
}

// newFakeCluster is a coordinator ("coordinator") and workers listed in
// its system.runtime.nodes.
func newFakeCluster(t *testing.T, workers int) (*fakeNode, []*fakeNode) {
	t.Helper()
	co := newFakeNode(t, "coordinator", true)
	nodes := []*fakeNode{co}
	var ws []*fakeNode
	for i := 1; i <= workers; i++ {
		w := newFakeNode(t, fmt.Sprintf("worker-%d", i), false)
		ws = append(ws, w)
		nodes = append(nodes, w)
	}
	co.set(func(c *fakeConfig) { c.nodes = nodes })
	return co, ws
}

func (n *fakeNode) requests() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.log...)
}

func (n *fakeNode) count(prefix string) int {
	c := 0
	for _, r := range n.requests() {
		if strings.HasPrefix(r, prefix) {
			c++
		}
	}
	return c
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (n *fakeNode) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	n.mu.Lock()
	n.log = append(n.log, r.Method+" "+r.URL.Path)
	cfg := n.cfg
	n.mu.Unlock()
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/metrics" && n.coordinator:
		fmt.Fprintf(w, "trino_metadata_name_DiscoveryNodeManager_ActiveNodeCount %d.0\ntrino_memory_name_ClusterMemoryManager_QueriesKilledDueToOutOfMemory %d.0\n", len(cfg.nodes), cfg.oomKills)
	case r.Method == http.MethodGet && r.URL.Path == "/v1/jmx/mbean/java.lang:type=OperatingSystem/TotalMemorySize":
		// The heap is 70% of the machine's memory: no finding.
		fmt.Fprintf(w, "%d", cfg.heap*10/7)
	case r.Method == http.MethodGet && r.URL.Path == "/v1/info":
		writeJSON(w, map[string]any{"nodeVersion": map[string]any{"version": cfg.version}, "environment": "test",
			"coordinator": n.coordinator, "starting": cfg.starting, "uptime": "1.00m"})
	case r.Method == http.MethodGet && r.URL.Path == "/v1/status":
		if cfg.statusFail {
			http.Error(w, "status broken", http.StatusInternalServerError)
			return
		}
		writeJSON(w, map[string]any{
			"nodeId": n.id, "nodeVersion": map[string]any{"version": cfg.version}, "environment": "test",
			"coordinator": n.coordinator, "uptime": "1.00m", "externalAddress": "127.0.0.1", "internalAddress": "127.0.0.1",
			"memoryInfo": map[string]any{"availableProcessors": 4, "pool": map[string]any{
				"maxBytes": cfg.pool, "reservedBytes": 0, "reservedRevocableBytes": 0, "queryMemoryReservations": map[string]any{},
				"freeBytes": cfg.pool}},
			"processors": 4, "processCpuLoad": 0.01, "systemCpuLoad": 0.02,
			"heapUsed": 100 * mib, "heapAvailable": cfg.heap, "nonHeapUsed": 50 * mib,
		})
	case r.Method == http.MethodPut && r.URL.Path == "/v1/info/state":
		n.mu.Lock()
		n.puts = append(n.puts, string(body))
		n.mu.Unlock()
		var state string
		if json.Unmarshal(body, &state) == nil {
			switch strings.ToUpper(state) {
			case "ACTIVE", "SHUTTING_DOWN", "DRAINING", "DRAINED", "INACTIVE":
				n.t.Errorf("the doctor sent a real node state %q to %s: it must only probe the permission", state, n.id)
			}
		}
		if r.Header.Get(trino.HeaderUser) == "" {
			http.Error(w, "no user", http.StatusUnauthorized)
			return
		}
		w.WriteHeader(cfg.shutdown)
	case n.coordinator:
		n.serveCoordinator(w, r, cfg, string(body))
	default:
		http.NotFound(w, r)
	}
}

// base is the address a coordinator builds URIs from: the forwarded one
// when it processes the headers, else its own. ok is false when it
// refused the request (406 written).
func (n *fakeNode) base(w http.ResponseWriter, r *http.Request, cfg fakeConfig) (string, bool) {
	proto, host, prefix := r.Header.Get("X-Forwarded-Proto"), r.Header.Get("X-Forwarded-Host"), r.Header.Get("X-Forwarded-Prefix")
	own := "http://" + r.Host
	if proto == "" && host == "" && prefix == "" {
		return own, true
	}
	n.mu.Lock()
	n.forward = append(n.forward, r.Header.Clone())
	n.mu.Unlock()
	switch cfg.forwarded {
	case forwardedRefuse:
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusNotAcceptable)
		_, _ = io.WriteString(w, "Server configuration does not allow processing of the X-Forwarded-Proto header")
		return "", false
	case forwardedIgnore:
		return own, true
	}
	if proto == "" {
		proto = "http"
	}
	if host == "" {
		host = r.Host
	}
	return proto + "://" + host + prefix, true
}

var (
	nodeColumns    = []map[string]any{{"name": "node_id", "type": "varchar"}, {"name": "http_uri", "type": "varchar"}, {"name": "node_version", "type": "varchar"}, {"name": "coordinator", "type": "boolean"}, {"name": "state", "type": "varchar"}}
	sessionColumns = []map[string]any{{"name": "Name", "type": "varchar"}, {"name": "Value", "type": "varchar"}, {"name": "Default", "type": "varchar"}, {"name": "Type", "type": "varchar"}, {"name": "Description", "type": "varchar"}}
)

// results is a statement's columns and rows.
func (n *fakeNode) results(cfg fakeConfig, sql string) ([]map[string]any, [][]any) {
	switch {
	case strings.Contains(sql, "system.runtime.nodes"):
		var rows [][]any
		for _, x := range cfg.nodes {
			xc, url := x.config()
			rows = append(rows, []any{x.id, url, xc.version, x.coordinator, xc.state})
		}
		return nodeColumns, rows
	case strings.HasPrefix(sql, "SHOW SESSION"):
		return sessionColumns, [][]any{{"spill_enabled", "false", "false", "boolean", "Enable spilling"}}
	case strings.Contains(sql, "GROUP BY"):
		return []map[string]any{{"name": "x", "type": "integer"}, {"name": "_col1", "type": "bigint"}}, [][]any{{1, 1}, {2, 1}, {3, 1}}
	}
	return []map[string]any{{"name": "_col0", "type": "integer"}}, [][]any{{1}}
}

// serveCoordinator is the statement protocol (POST /v1/statement, then
// queued/{id}/{slug}/1 and executing/{id}/{slug}/1, which ends the query)
// and /v1/query/{id}.
func (n *fakeNode) serveCoordinator(w http.ResponseWriter, r *http.Request, cfg fakeConfig, body string) {
	if strings.HasPrefix(r.URL.Path, "/v1/statement") && r.Header.Get(trino.HeaderUser) == "" {
		http.Error(w, "Error 401: X-Trino-User must be set", http.StatusUnauthorized)
		return
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/statement":
		base, ok := n.base(w, r, cfg)
		if !ok {
			return
		}
		n.mu.Lock()
		n.seq++
		id := fmt.Sprintf("20250601_120000_%05d_fakeq", n.seq)
		n.queries[id] = &fakeQuery{sql: body, state: "QUEUED"}
		n.mu.Unlock()
		writeJSON(w, map[string]any{
			"id": id, "infoUri": base + "/ui/query.html?" + id,
			"nextUri":  base + "/v1/statement/queued/" + id + "/y1/1",
			"stats":    map[string]any{"state": "QUEUED", "queued": true, "scheduled": false},
			"warnings": []any{},
		})
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/statement/"):
		base, ok := n.base(w, r, cfg)
		if !ok {
			return
		}
		parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/v1/statement/"), "/")
		if len(parts) != 4 {
			http.NotFound(w, r)
			return
		}
		phase, id := parts[0], parts[1]
		n.mu.Lock()
		q := n.queries[id]
		n.mu.Unlock()
		if q == nil {
			http.Error(w, "Query not found", http.StatusGone)
			return
		}
		page := map[string]any{"id": id, "infoUri": base + "/ui/query.html?" + id, "warnings": []any{}}
		cols, rows := n.results(cfg, q.sql)
		switch {
		case phase == "queued" && strings.Contains(q.sql, "GROUP BY") && cfg.exchangeErr != "":
			page["stats"] = map[string]any{"state": "FAILED"}
			page["error"] = map[string]any{"message": cfg.exchangeErr, "errorCode": 65536, "errorName": "GENERIC_INTERNAL_ERROR", "errorType": "INTERNAL_ERROR"}
			n.finish(id, q, "FAILED")
		case phase == "queued":
			n.mu.Lock()
			q.state = "RUNNING"
			n.mu.Unlock()
			page["nextUri"] = base + "/v1/statement/executing/" + id + "/y2/1"
			page["columns"], page["data"] = cols, rows
			page["stats"] = map[string]any{"state": "RUNNING"}
		case phase == "executing":
			page["columns"] = cols
			page["stats"] = map[string]any{"state": "FINISHED"}
			n.finish(id, q, "FINISHED")
		default:
			http.NotFound(w, r)
			return
		}
		writeJSON(w, page)
	case r.Method == http.MethodDelete:
		id := ""
		if p := strings.TrimPrefix(r.URL.Path, "/v1/query/"); p != r.URL.Path {
			id = p
		} else if parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/v1/statement/"), "/"); len(parts) == 4 {
			id = parts[1]
		}
		n.mu.Lock()
		n.deleted = append(n.deleted, id)
		if q := n.queries[id]; q != nil {
			q.state = "FAILED"
		}
		n.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/query/"):
		id := strings.TrimPrefix(r.URL.Path, "/v1/query/")
		n.mu.Lock()
		q := n.queries[id]
		n.reads = append(n.reads, id)
		var state string
		if q != nil {
			state = q.state
		}
		n.mu.Unlock()
		if q == nil {
			http.Error(w, "Query not found", http.StatusGone)
			return
		}
		writeJSON(w, map[string]any{"queryId": id, "state": state, "query": q.sql, "retryPolicy": cfg.retryPolicy,
			"session": map[string]any{"user": "switchyard", "source": r.Header.Get(trino.HeaderSource)}})
	default:
		http.NotFound(w, r)
	}
}

// finish ends a query and sends its completion event, as the HTTP event
// listener would, before the last page is answered.
func (n *fakeNode) finish(id string, q *fakeQuery, state string) {
	n.mu.Lock()
	q.state = state
	log, cluster := n.cfg.events, n.cfg.eventsAs
	n.mu.Unlock()
	if log == nil {
		return
	}
	if err := log.Sink(nil).Ingest(context.Background(), cluster, &events.Event{Kind: events.Completed, QueryID: id, State: state}); err != nil {
		n.t.Errorf("recording the event of %s: %v", id, err)
	}
}

func (n *fakeNode) query(id string) (fakeQuery, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	q, ok := n.queries[id]
	if !ok {
		return fakeQuery{}, false
	}
	return *q, true
}

func (n *fakeNode) snapshot() (puts, deleted, reads []string, forward []http.Header) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.puts...), append([]string(nil), n.deleted...), append([]string(nil), n.reads...), append([]http.Header(nil), n.forward...)
}

// fakeGateway routes /_sy/{cluster}/{coordinator}/... to the coordinator,
// prefix removed, with the X-Forwarded-* headers Envoy adds.
type fakeGateway struct {
	srv  *httptest.Server
	hits atomic.Int64
}

func newFakeGateway(t *testing.T, routes map[string]string) *fakeGateway {
	t.Helper()
	g := &fakeGateway{}
	targets := map[string]*url.URL{}
	for k, v := range routes {
		u, err := url.Parse(v)
		if err != nil {
			t.Fatal(err)
		}
		targets[k] = u
	}
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		cluster, co, rest, _ := trino.ParseCoordinatorPrefix(pr.In.URL.Path)
		pr.SetURL(targets[cluster+"/"+co])
		pr.Out.URL.Path, pr.Out.URL.RawPath = rest, ""
		pr.SetXForwarded()
		pr.Out.Header.Set("X-Forwarded-Prefix", trino.CoordinatorPrefix(cluster, co))
	}}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.hits.Add(1)
		cluster, co, _, ok := trino.ParseCoordinatorPrefix(r.URL.Path)
		if !ok || targets[cluster+"/"+co] == nil {
			http.Error(w, "no route", http.StatusNotFound)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(g.srv.Close)
	return g
}

func testCluster(name, url string) fleet.Cluster {
	return fleet.Cluster{Name: name, Group: "etl", Coordinators: []fleet.Coordinator{{Name: "0", URL: url}}, State: fleet.Active}
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newTestDoctor(o Options) *Doctor {
	o.Client = coordinator.New(coordinator.Options{})
	if o.Timeout == 0 {
		o.Timeout = 15 * time.Second
	}
	if o.EventWait == 0 {
		o.EventWait = 5 * time.Second
	}
	return New(o)
}

// findings are Analyze's findings of f alone, by check.
func findings(f Facts) map[string]Finding {
	m := map[string]Finding{}
	for _, x := range Analyze(f, Fleet{}) {
		m[x.Check] = x
	}
	return m
}

func errorsAndWarnings(f Facts) []Finding {
	var out []Finding
	for _, x := range Analyze(f, Fleet{}) {
		if x.Severity != Info {
			out = append(out, x)
		}
	}
	return out
}

func TestCollectCleanCluster(t *testing.T) {
	co, ws := newFakeCluster(t, 2)
	log := NewEventLog(16)
	co.set(func(c *fakeConfig) { c.events, c.eventsAs = log, "blue" })
	gw := newFakeGateway(t, map[string]string{"blue/0": co.srv.URL})
	d := newTestDoctor(Options{GatewayURL: gw.srv.URL, Events: log})

	f := d.Collect(testContext(t), testCluster("blue", co.srv.URL))

	if !f.Reachable || f.ReachErr != "" || f.Starting {
		t.Fatalf("Reachable %v, ReachErr %q, Starting %v", f.Reachable, f.ReachErr, f.Starting)
	}
	if f.Cluster != "blue" || f.Group != "etl" || f.State != "active" || f.Coordinator != "0" || f.URL != co.srv.URL {
		t.Errorf("identity: %+v", f)
	}
	if f.Version != fakeVersion {
		t.Errorf("Version %q, want %q", f.Version, fakeVersion)
	}
	if f.NodesErr != "" || len(f.Nodes) != 3 {
		t.Fatalf("nodes %+v (err %q), want 3", f.Nodes, f.NodesErr)
	}
	for i, want := range []*fakeNode{co, ws[0], ws[1]} {
		n := f.Nodes[i]
		if n.ID != want.id || n.URI != want.srv.URL || n.Version != fakeVersion || n.Coordinator != want.coordinator || n.State != "active" {
			t.Errorf("node %d: %+v, want %s at %s", i, n, want.id, want.srv.URL)
		}
		if n.Heap != testHeap || n.Pool != testPool || n.StatusErr != "" {
			t.Errorf("node %s: heap %d pool %d (err %q), want %d and %d", n.ID, n.Heap, n.Pool, n.StatusErr, testHeap, testPool)
		}
		wantShutdown := ShutdownPermitted
		if n.Coordinator {
			wantShutdown = ""
		}
		if n.Shutdown != wantShutdown {
			t.Errorf("node %s: Shutdown %q, want %q", n.ID, n.Shutdown, wantShutdown)
		}
	}
	if puts, _, _, _ := co.snapshot(); len(puts) != 0 {
		t.Errorf("the coordinator's state was probed: %q", puts)
	}
	for _, w := range ws {
		puts, _, _, _ := w.snapshot()
		if len(puts) != 1 {
			t.Errorf("%s received %d PUT /v1/info/state, want 1", w.id, len(puts))
		}
	}
	if f.SpillOn == nil || *f.SpillOn || f.SessionErr != "" {
		t.Errorf("SpillOn %v (err %q), want false", f.SpillOn, f.SessionErr)
	}

	want := gw.srv.URL + "/_sy/blue/0/v1/statement/"
	p := f.Probe
	if p.Status != http.StatusOK || p.Err != "" {
		t.Errorf("probe status %d, err %q", p.Status, p.Err)
	}
	if !trino.ValidQueryID(p.QueryID) {
		t.Errorf("probe query ID %q", p.QueryID)
	}
	if p.Want != want || !strings.HasPrefix(p.NextURI, want) {
		t.Errorf("probe nextUri %q, Want %q; want both under %q", p.NextURI, p.Want, want)
	}
	if p.Gateway != "ok" || p.GatewaySkipped != "" {
		t.Errorf("Gateway %q, GatewaySkipped %q; want ok and empty", p.Gateway, p.GatewaySkipped)
	}
	if gw.hits.Load() < 2 {
		t.Errorf("the gateway saw %d requests, want the probe's pages (2)", gw.hits.Load())
	}
	if q, ok := co.query(p.QueryID); !ok || q.state != "FINISHED" || q.sql != "SELECT 1" {
		t.Errorf("probe query on the coordinator: %+v (known %v), want SELECT 1 FINISHED", q, ok)
	}
	_, deleted, reads, forward := co.snapshot()
	if len(deleted) != 0 {
		t.Errorf("a finished probe was cancelled: %v", deleted)
	}
	if len(reads) == 0 || reads[0] != p.QueryID {
		t.Errorf("GET /v1/query reads %v, want the probe's %s", reads, p.QueryID)
	}
	if len(forward) == 0 {
		t.Fatal("the coordinator received no forwarded header")
	}
	first := forward[0]
	gwURL, _ := url.Parse(gw.srv.URL)
	if first.Get("X-Forwarded-Proto") != "http" || first.Get("X-Forwarded-Host") != gwURL.Host || first.Get("X-Forwarded-Prefix") != "/_sy/blue/0" {
		t.Errorf("probe forwarded headers: proto %q host %q prefix %q", first.Get("X-Forwarded-Proto"), first.Get("X-Forwarded-Host"), first.Get("X-Forwarded-Prefix"))
	}
	if first.Get(trino.HeaderSource) != Source || first.Get(trino.HeaderUser) != coordinator.DefaultUser {
		t.Errorf("probe identity: user %q source %q", first.Get(trino.HeaderUser), first.Get(trino.HeaderSource))
	}
	if f.RetryPolicy != "TASK" || f.ExchangeErr != "" {
		t.Errorf("RetryPolicy %q, ExchangeErr %q; want TASK and none", f.RetryPolicy, f.ExchangeErr)
	}
	if co.count("POST /v1/statement") != 4 { // nodes, session, probe, GROUP BY
		t.Errorf("statements posted: %v", co.requests())
	}
	if f.Event != "seen" {
		t.Errorf("Event %q, want seen", f.Event)
	}
	if fs := errorsAndWarnings(f); len(fs) != 0 {
		t.Errorf("a clean cluster has findings: %s", describe(fs))
	}
}

func TestRunCleanFleet(t *testing.T) {
	co, _ := newFakeCluster(t, 1)
	gw := newFakeGateway(t, map[string]string{"blue/0": co.srv.URL})
	d := newTestDoctor(Options{GatewayURL: gw.srv.URL})
	fl := &fleet.Fleet{Clusters: []fleet.Cluster{testCluster("blue", co.srv.URL)}}
	r, err := d.Run(testContext(t), fl, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Clusters) != 1 || r.Clusters[0].Cluster != "blue" {
		t.Fatalf("clusters %+v", r.Clusters)
	}
	if r.Errors != 0 || r.Warnings != 0 || r.Checked.IsZero() {
		t.Errorf("Errors %d, Warnings %d, Checked %v: %s", r.Errors, r.Warnings, r.Checked, describe(r.Clusters[0].Findings))
	}
	if r.Clusters[0].Facts.Event != "" {
		t.Errorf("Event %q without an event log, want unchecked", r.Clusters[0].Facts.Event)
	}
}

func TestRunSeveralClustersAndOne(t *testing.T) {
	blue, _ := newFakeCluster(t, 1)
	green, greenWorkers := newFakeCluster(t, 1)
	for _, n := range append([]*fakeNode{green}, greenWorkers...) {
		n.set(func(c *fakeConfig) { c.version = "475" })
	}
	gw := newFakeGateway(t, map[string]string{"blue/0": blue.srv.URL, "green/0": green.srv.URL})
	d := newTestDoctor(Options{GatewayURL: gw.srv.URL})
	fl := &fleet.Fleet{Clusters: []fleet.Cluster{testCluster("blue", blue.srv.URL), testCluster("green", green.srv.URL)}}

	r, err := d.Run(testContext(t), fl, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Clusters) != 2 || r.Clusters[0].Cluster != "blue" || r.Clusters[1].Cluster != "green" {
		t.Fatalf("clusters %+v", r.Clusters)
	}
	for _, c := range r.Clusters {
		if c.Facts.Probe.Gateway != "ok" {
			t.Errorf("%s: Gateway %q", c.Cluster, c.Facts.Probe.Gateway)
		}
		if len(c.Findings) != 1 || c.Findings[0].Check != "group-versions-mixed" || c.Findings[0].Severity != Warning {
			t.Errorf("%s: findings %s, want the group's version skew", c.Cluster, describe(c.Findings))
		}
	}
	if r.Warnings != 2 || r.Errors != 0 {
		t.Errorf("Errors %d, Warnings %d; want 0 and 2", r.Errors, r.Warnings)
	}

	r, err = d.Run(testContext(t), fl, "green")
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Clusters) != 1 || r.Clusters[0].Cluster != "green" || r.Warnings != 0 {
		t.Errorf("Run(green): %d clusters, %d warnings: %+v", len(r.Clusters), r.Warnings, r.Clusters)
	}
}

func TestRunUnknownCluster(t *testing.T) {
	co, _ := newFakeCluster(t, 0)
	d := newTestDoctor(Options{})
	fl := &fleet.Fleet{Clusters: []fleet.Cluster{testCluster("blue", co.srv.URL)}}
	_, err := d.Run(testContext(t), fl, "purple")
	if !errors.Is(err, ErrUnknownCluster) {
		t.Fatalf("Run(purple) = %v, want ErrUnknownCluster", err)
	}
	if !strings.Contains(err.Error(), "purple") {
		t.Errorf("error %q does not name the cluster", err)
	}
	if n := len(co.requests()); n != 0 {
		t.Errorf("the coordinator of another cluster received %d requests", n)
	}
}

func TestCollectForwardedHeadersRefused(t *testing.T) {
	co, _ := newFakeCluster(t, 1)
	co.set(func(c *fakeConfig) { c.forwarded = forwardedRefuse })
	log := NewEventLog(16)
	co.set(func(c *fakeConfig) { c.events, c.eventsAs = log, "blue" })
	gw := newFakeGateway(t, map[string]string{"blue/0": co.srv.URL})
	d := newTestDoctor(Options{GatewayURL: gw.srv.URL, Events: log})

	f := d.Collect(testContext(t), testCluster("blue", co.srv.URL))

	if f.Probe.Status != http.StatusNotAcceptable || !strings.Contains(f.Probe.Err, "406") {
		t.Errorf("probe status %d err %q, want 406", f.Probe.Status, f.Probe.Err)
	}
	if len(f.Nodes) != 2 || f.NodesErr != "" {
		t.Errorf("nodes (read without forwarded headers) %+v err %q", f.Nodes, f.NodesErr)
	}
	if f.Probe.Gateway != "" || gw.hits.Load() != 0 {
		t.Errorf("Gateway %q, gateway hits %d: nothing should follow a refused probe", f.Probe.Gateway, gw.hits.Load())
	}
	// A plain SELECT 1 stands in for the refused probe: the retry policy
	// and the event are still checked.
	checkStandIn(t, co, f, "")
	if f.Event != "seen" {
		t.Errorf("Event %q, want seen (from the stand-in query)", f.Event)
	}
	if _, _, _, forward := co.snapshot(); len(forward) != 1 {
		t.Errorf("%d requests carried forwarded headers, want the refused POST only", len(forward))
	}
	fs := errorsAndWarnings(f)
	if len(fs) != 1 || fs[0].Check != "forwarded-headers-off" || fs[0].Severity != Error || !strings.Contains(fs[0].Message, "406") {
		t.Errorf("findings %s, want forwarded-headers-off (406) only", describe(fs))
	}
}

func TestCollectForwardedHeadersIgnored(t *testing.T) {
	co, _ := newFakeCluster(t, 1)
	co.set(func(c *fakeConfig) { c.forwarded = forwardedIgnore })
	gw := newFakeGateway(t, map[string]string{"blue/0": co.srv.URL})
	d := newTestDoctor(Options{GatewayURL: gw.srv.URL})

	f := d.Collect(testContext(t), testCluster("blue", co.srv.URL))

	if f.Probe.Status != http.StatusOK || f.Probe.Err != "" {
		t.Errorf("probe status %d err %q", f.Probe.Status, f.Probe.Err)
	}
	if !strings.HasPrefix(f.Probe.NextURI, co.srv.URL+"/v1/statement/") {
		t.Errorf("NextURI %q, want the coordinator's own address", f.Probe.NextURI)
	}
	if gw.hits.Load() != 0 || f.Probe.Gateway != "" {
		t.Errorf("the doctor followed a nextUri around the gateway: hits %d, Gateway %q", gw.hits.Load(), f.Probe.Gateway)
	}
	checkStandIn(t, co, f, f.Probe.NextURI)
	got := findings(f)["forwarded-headers-off"]
	if got.Severity != Error || !strings.Contains(got.Message, f.Probe.NextURI) || !strings.Contains(got.Message, gw.srv.URL+"/_sy/blue/0/v1/statement/") {
		t.Errorf("forwarded-headers-off %+v, want an error naming the nextUri and the prefix wanted", got)
	}
}

// checkStandIn checks that the forwarded probe was cancelled when it was
// registered (its ID in nextURI; "" when the coordinator refused it) and
// that a plain SELECT 1 stood in for it: ran to its end, is the probe's
// QueryID, and gave the retry policy.
func checkStandIn(t *testing.T, co *fakeNode, f Facts, nextURI string) {
	t.Helper()
	_, deleted, reads, _ := co.snapshot()
	if nextURI == "" {
		if len(deleted) != 0 {
			t.Errorf("cancelled %v, want nothing (the probe was refused)", deleted)
		}
	} else {
		if len(deleted) != 1 || !strings.Contains(nextURI, "/"+deleted[0]+"/") {
			t.Errorf("cancelled %v, want the forwarded probe of nextUri %s", deleted, nextURI)
		} else if q, _ := co.query(deleted[0]); q.sql != "SELECT 1" {
			t.Errorf("cancelled %q, want the probe", q.sql)
		}
		if len(deleted) == 1 && deleted[0] == f.Probe.QueryID {
			t.Errorf("Probe.QueryID %s is the cancelled probe, want the stand-in", f.Probe.QueryID)
		}
	}
	if q, ok := co.query(f.Probe.QueryID); !ok || q.sql != "SELECT 1" || q.state != "FINISHED" {
		t.Errorf("stand-in %s: %+v (known %v), want SELECT 1 FINISHED", f.Probe.QueryID, q, ok)
	}
	if len(reads) != 1 || reads[0] != f.Probe.QueryID || f.RetryPolicy != "TASK" {
		t.Errorf("retry policy %q read from %v, want TASK from %s", f.RetryPolicy, reads, f.Probe.QueryID)
	}
}

func TestCollectShutdownRefused(t *testing.T) {
	co, ws := newFakeCluster(t, 2)
	ws[1].set(func(c *fakeConfig) { c.shutdown = http.StatusForbidden })
	gw := newFakeGateway(t, map[string]string{"blue/0": co.srv.URL})
	d := newTestDoctor(Options{GatewayURL: gw.srv.URL, User: "gateway-svc"})

	f := d.Collect(testContext(t), testCluster("blue", co.srv.URL))

	if len(f.Nodes) != 3 {
		t.Fatalf("nodes %+v", f.Nodes)
	}
	if f.Nodes[1].Shutdown != ShutdownPermitted || f.Nodes[2].Shutdown != ShutdownRefused {
		t.Errorf("Shutdown %q and %q, want permitted and refused", f.Nodes[1].Shutdown, f.Nodes[2].Shutdown)
	}
	fs := errorsAndWarnings(f)
	if len(fs) != 1 || fs[0].Check != "shutdown-not-permitted" || fs[0].Node != "worker-2" || !strings.Contains(fs[0].Message, "worker-2") {
		t.Errorf("findings %s, want shutdown-not-permitted for worker-2", describe(fs))
	}
}

func TestCollectShutdownUnexpectedAnswer(t *testing.T) {
	co, ws := newFakeCluster(t, 1)
	ws[0].set(func(c *fakeConfig) { c.shutdown = http.StatusInternalServerError })
	d := newTestDoctor(Options{GatewaySkip: "test"})
	f := d.Collect(testContext(t), testCluster("blue", co.srv.URL))
	if len(f.Nodes) != 2 || !strings.Contains(f.Nodes[1].Shutdown, "500") {
		t.Fatalf("nodes %+v, want worker-1's shutdown unknown (HTTP 500)", f.Nodes)
	}
	if got := findings(f)["shutdown-unknown"]; got.Severity != Info || got.Node != "worker-1" {
		t.Errorf("shutdown-unknown %+v", got)
	}
}

func TestCollectWithoutGateway(t *testing.T) {
	co, _ := newFakeCluster(t, 1)
	log := NewEventLog(16)
	co.set(func(c *fakeConfig) { c.events, c.eventsAs = log, "blue" })
	d := newTestDoctor(Options{Events: log})

	f := d.Collect(testContext(t), testCluster("blue", co.srv.URL))

	p := f.Probe
	if p.GatewaySkipped == "" || p.Gateway != "" {
		t.Errorf("GatewaySkipped %q, Gateway %q; want a reason and no outcome", p.GatewaySkipped, p.Gateway)
	}
	if p.Err != "" || p.Status != http.StatusOK {
		t.Errorf("probe status %d err %q", p.Status, p.Err)
	}
	if !strings.HasPrefix(p.NextURI, p.Want) || !strings.HasSuffix(p.Want, "/_sy/blue/0/v1/statement/") {
		t.Errorf("NextURI %q, Want %q", p.NextURI, p.Want)
	}
	// Followed to the end on the coordinator, the prefix taken off and the
	// forwarded headers sent again.
	if q, ok := co.query(p.QueryID); !ok || q.state != "FINISHED" {
		t.Errorf("probe query %+v (known %v), want FINISHED", q, ok)
	}
	if n := co.count("GET /v1/statement/executing/" + p.QueryID + "/"); n != 1 {
		t.Errorf("the last page was fetched %d times on the coordinator: %v", n, co.requests())
	}
	_, deleted, _, forward := co.snapshot()
	if len(deleted) != 0 {
		t.Errorf("cancelled %v", deleted)
	}
	if len(forward) != 3 { // the POST and two pages
		t.Errorf("%d requests carried forwarded headers, want 3", len(forward))
	}
	for _, h := range forward {
		if h.Get("X-Forwarded-Prefix") != "/_sy/blue/0" {
			t.Errorf("X-Forwarded-Prefix %q", h.Get("X-Forwarded-Prefix"))
		}
	}
	if f.RetryPolicy != "TASK" || f.Event != "seen" {
		t.Errorf("RetryPolicy %q, Event %q; want TASK and seen", f.RetryPolicy, f.Event)
	}
	all := findings(f)
	if got := all["gateway-round-trip-skipped"]; got.Severity != Info || !strings.Contains(got.Message, p.GatewaySkipped) {
		t.Errorf("gateway-round-trip-skipped %+v", got)
	}
	if fs := errorsAndWarnings(f); len(fs) != 0 {
		t.Errorf("findings %s", describe(fs))
	}
}

func TestCollectGatewaySkippedByOption(t *testing.T) {
	co, _ := newFakeCluster(t, 1)
	gw := newFakeGateway(t, map[string]string{"blue/0": co.srv.URL})
	d := newTestDoctor(Options{GatewayURL: gw.srv.URL, GatewaySkip: "the gateway listens on a unix socket"})

	f := d.Collect(testContext(t), testCluster("blue", co.srv.URL))

	if f.Probe.GatewaySkipped != "the gateway listens on a unix socket" || f.Probe.Gateway != "" || f.Probe.Err != "" {
		t.Errorf("probe %+v", f.Probe)
	}
	if !strings.HasPrefix(f.Probe.NextURI, gw.srv.URL+"/_sy/blue/0/v1/statement/") {
		t.Errorf("NextURI %q, want the gateway's address", f.Probe.NextURI)
	}
	if gw.hits.Load() != 0 {
		t.Errorf("the gateway saw %d requests though its round trip was skipped", gw.hits.Load())
	}
	if q, _ := co.query(f.Probe.QueryID); q.state != "FINISHED" {
		t.Errorf("probe query %+v, want FINISHED (followed on the coordinator)", q)
	}
}

func TestCollectGatewayRoundTripFails(t *testing.T) {
	co, _ := newFakeCluster(t, 1)
	// The gateway has no route for the cluster.
	gw := newFakeGateway(t, map[string]string{"green/0": co.srv.URL})
	d := newTestDoctor(Options{GatewayURL: gw.srv.URL})

	f := d.Collect(testContext(t), testCluster("blue", co.srv.URL))

	if f.Probe.Gateway == "ok" || !strings.Contains(f.Probe.Gateway, "404") {
		t.Errorf("Gateway %q, want the 404 of the missing route", f.Probe.Gateway)
	}
	checkStandIn(t, co, f, f.Probe.NextURI)
	if got := findings(f)["gateway-round-trip"]; got.Severity != Error {
		t.Errorf("gateway-round-trip %+v", got)
	}
}

func TestCollectUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close()
	d := newTestDoctor(Options{GatewaySkip: "test"})

	f := d.Collect(testContext(t), testCluster("blue", addr))

	if f.Reachable || f.ReachErr == "" {
		t.Fatalf("Reachable %v, ReachErr %q; want false with the reason", f.Reachable, f.ReachErr)
	}
	if f.Nodes != nil || f.Probe != (Probe{}) || f.Version != "" {
		t.Errorf("an unreachable cluster has facts: %+v", f)
	}
	fs := Analyze(f, Fleet{})
	if len(fs) != 1 || fs[0].Check != "coordinator-unreachable" || !strings.Contains(fs[0].Message, addr) {
		t.Errorf("findings %s, want coordinator-unreachable only", describe(fs))
	}
}

func TestCollectStarting(t *testing.T) {
	co, _ := newFakeCluster(t, 1)
	co.set(func(c *fakeConfig) { c.starting = true })
	d := newTestDoctor(Options{GatewaySkip: "test"})

	f := d.Collect(testContext(t), testCluster("blue", co.srv.URL))

	if !f.Reachable || !f.Starting {
		t.Fatalf("Reachable %v Starting %v", f.Reachable, f.Starting)
	}
	if reqs := co.requests(); len(reqs) != 1 || reqs[0] != "GET /v1/info" {
		t.Errorf("a starting coordinator received %v, want only GET /v1/info", reqs)
	}
}

func TestCollectNodeStatusUnreadable(t *testing.T) {
	co, ws := newFakeCluster(t, 2)
	ws[0].set(func(c *fakeConfig) { c.statusFail = true })
	d := newTestDoctor(Options{GatewaySkip: "test"})

	f := d.Collect(testContext(t), testCluster("blue", co.srv.URL))

	if len(f.Nodes) != 3 {
		t.Fatalf("nodes %+v", f.Nodes)
	}
	w := f.Nodes[1]
	if w.StatusErr == "" || w.Heap != 0 || !strings.Contains(w.StatusErr, "500") {
		t.Errorf("worker-1: StatusErr %q heap %d", w.StatusErr, w.Heap)
	}
	if got := findings(f)["node-status-unreadable"]; got.Node != "worker-1" || got.Severity != Info {
		t.Errorf("node-status-unreadable %+v", got)
	}
}

func TestCollectExchangeManagerMissing(t *testing.T) {
	co, _ := newFakeCluster(t, 1)
	co.set(func(c *fakeConfig) {
		c.exchangeErr = "Exchange manager must be configured for the failure recovery capabilities to be fully functional"
	})
	gw := newFakeGateway(t, map[string]string{"blue/0": co.srv.URL})
	d := newTestDoctor(Options{GatewayURL: gw.srv.URL})

	f := d.Collect(testContext(t), testCluster("blue", co.srv.URL))

	if f.RetryPolicy != "TASK" || !strings.Contains(f.ExchangeErr, "Exchange manager must be configured") {
		t.Errorf("RetryPolicy %q, ExchangeErr %q", f.RetryPolicy, f.ExchangeErr)
	}
	fs := errorsAndWarnings(f)
	if len(fs) != 1 || fs[0].Check != "fte-without-exchange-manager" {
		t.Errorf("findings %s, want fte-without-exchange-manager", describe(fs))
	}
}

func TestCollectRetryPolicyNoneRunsNoExchangeQuery(t *testing.T) {
	co, _ := newFakeCluster(t, 1)
	co.set(func(c *fakeConfig) { c.retryPolicy = "NONE" })
	co.set(func(c *fakeConfig) { c.exchangeErr = "Exchange manager must be configured" })
	gw := newFakeGateway(t, map[string]string{"blue/0": co.srv.URL})
	d := newTestDoctor(Options{GatewayURL: gw.srv.URL})

	f := d.Collect(testContext(t), testCluster("blue", co.srv.URL))

	if f.RetryPolicy != "NONE" || f.ExchangeErr != "" {
		t.Errorf("RetryPolicy %q, ExchangeErr %q", f.RetryPolicy, f.ExchangeErr)
	}
	if n := co.count("POST /v1/statement"); n != 3 {
		t.Errorf("%d statements, want 3 (no GROUP BY under retry-policy NONE)", n)
	}
}

func TestCollectEventMissing(t *testing.T) {
	for _, tc := range []struct {
		name     string
		eventsAs string // "" : the coordinator sends no event
	}{
		{"no event", ""},
		{"the event came from another cluster", "green"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			co, _ := newFakeCluster(t, 1)
			log := NewEventLog(16)
			if tc.eventsAs != "" {
				co.set(func(c *fakeConfig) { c.events, c.eventsAs = log, tc.eventsAs })
			}
			gw := newFakeGateway(t, map[string]string{"blue/0": co.srv.URL})
			d := newTestDoctor(Options{GatewayURL: gw.srv.URL, Events: log, EventWait: 200 * time.Millisecond})

			f := d.Collect(testContext(t), testCluster("blue", co.srv.URL))

			if f.Probe.Gateway != "ok" {
				t.Fatalf("Gateway %q", f.Probe.Gateway)
			}
			if f.Event != "missing" {
				t.Errorf("Event %q, want missing", f.Event)
			}
			got := findings(f)["event-listener-missing"]
			if got.Severity != Error || !strings.Contains(got.Message, f.Probe.QueryID) {
				t.Errorf("event-listener-missing %+v, want an error naming %s", got, f.Probe.QueryID)
			}
		})
	}
}

func TestCollectEventWaitEndsWithTheContext(t *testing.T) {
	co, _ := newFakeCluster(t, 1)
	gw := newFakeGateway(t, map[string]string{"blue/0": co.srv.URL})
	// The event never comes and EventWait is long: the Timeout of the
	// cluster's checks ends the wait.
	d := newTestDoctor(Options{GatewayURL: gw.srv.URL, Events: NewEventLog(4), EventWait: time.Minute, Timeout: 2 * time.Second})
	done := make(chan Facts, 1)
	go func() { done <- d.Collect(testContext(t), testCluster("blue", co.srv.URL)) }()
	select {
	case f := <-done:
		if f.Event != "missing" {
			t.Errorf("Event %q, want missing", f.Event)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Collect did not end with its Timeout while waiting for the event")
	}
}

// TestCollectEventWaitLongerThanTimeoutBlamesNoExchange: with a Timeout
// shorter than EventWait (here the default 10s wait and a 1s Timeout), a
// missing event uses up the cluster's context, and the GROUP BY exchange
// check that Collect runs after the probe then fails with "context
// deadline exceeded", which Analyze reports as a failing exchange query
// (probe-failed) on a cluster whose exchanges work. The doctor's own
// deadline must not be reported as the cluster's fault.
func TestCollectEventWaitLongerThanTimeoutBlamesNoExchange(t *testing.T) {
	co, _ := newFakeCluster(t, 1)
	gw := newFakeGateway(t, map[string]string{"blue/0": co.srv.URL})
	d := newTestDoctor(Options{GatewayURL: gw.srv.URL, Events: NewEventLog(4), EventWait: DefaultEventWait, Timeout: time.Second})

	f := d.Collect(testContext(t), testCluster("blue", co.srv.URL))

	if f.Event != "missing" || f.RetryPolicy != "TASK" {
		t.Fatalf("Event %q, RetryPolicy %q; want missing and TASK", f.Event, f.RetryPolicy)
	}
	if f.ExchangeErr != "" {
		t.Errorf("BUG: ExchangeErr %q: the exchange check ran after the event wait had used up the cluster's Timeout, so the doctor's own deadline is reported as a failing exchange query", f.ExchangeErr)
	}
	for _, x := range Analyze(f, Fleet{}) {
		if x.Check == "probe-failed" || x.Check == "fte-without-exchange-manager" {
			t.Errorf("BUG: finding %s (%s) blames the cluster for the doctor's deadline", x.Check, x.Message)
		}
	}
}

func TestCollectLowMemoryKills(t *testing.T) {
	co, _ := newFakeCluster(t, 1)
	co.set(func(c *fakeConfig) { c.oomKills = 3 })
	gw := newFakeGateway(t, map[string]string{"blue/0": co.srv.URL})
	d := newTestDoctor(Options{GatewayURL: gw.srv.URL})
	f := d.Collect(testContext(t), testCluster("blue", co.srv.URL))
	if f.Memory == nil || f.Memory.QueriesKilled != 3 {
		t.Fatalf("memory metrics %+v (%s), want 3 queries killed", f.Memory, f.MetricsErr)
	}
	fs := errorsAndWarnings(f)
	if len(fs) != 1 || fs[0].Check != "low-memory-kills" || !strings.Contains(fs[0].Message, "killed 3 queries") {
		t.Errorf("findings %s, want low-memory-kills", describe(fs))
	}
}

func TestCollectGatewayUnreachable(t *testing.T) {
	co, _ := newFakeCluster(t, 1)
	gw := httptest.NewServer(http.NotFoundHandler())
	addr := gw.URL
	gw.Close() // nothing listens there: Envoy on another host, say
	d := newTestDoctor(Options{GatewayURL: addr})

	f := d.Collect(testContext(t), testCluster("blue", co.srv.URL))

	if f.Probe.Gateway != "" || !strings.Contains(f.Probe.GatewaySkipped, "did not answer") {
		t.Fatalf("Gateway %q, skipped %q: want the round trip skipped, not failed", f.Probe.Gateway, f.Probe.GatewaySkipped)
	}
	if fs := errorsAndWarnings(f); len(fs) != 0 {
		t.Errorf("findings %s, want none above info", describe(fs))
	}
	if got := findings(f)["gateway-round-trip-skipped"]; got.Severity != Info {
		t.Errorf("gateway-round-trip-skipped %+v", got)
	}
}

package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/coordinator"
	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/trino"
)

// Source is the X-Trino-Source of the doctor's queries (they show in
// Trino's query list and the event stream under this name).
const Source = "switchyard-doctor"

// Defaults of Options.
const (
	DefaultEventWait = 10 * time.Second
	DefaultTimeout   = 60 * time.Second
	maxProbePages    = 100
	maxBody          = 4 << 20
)

// Options configure a Doctor.
type Options struct {
	// Client reads coordinators (/v1/info, /v1/status, statements).
	Client *coordinator.Client
	// HTTP sends the probes Client has no call for (forwarded headers,
	// the gateway round trip, the shutdown permission); default a client
	// with a 10s timeout that follows no redirect.
	HTTP *http.Client
	// User is the gateway's identity toward Trino (the coordinator
	// client's user): the one that must be allowed graceful shutdown.
	User string
	// GatewayURL is the gateway's client address (e.g. http://127.0.0.1:8080)
	// for the round trip; empty: the forwarded-header check still runs
	// with a placeholder address and GatewaySkip says why.
	GatewayURL  string
	GatewaySkip string
	// Events, when set, tells whether a query's events reached this
	// control plane; EventWait bounds the wait (default 10s).
	Events    *EventLog
	EventWait time.Duration
	// Timeout bounds the checks of one cluster (default 60s).
	Timeout time.Duration
}

// Doctor checks clusters.
type Doctor struct{ o Options }

// New returns a Doctor with the defaults filled in.
func New(o Options) *Doctor {
	if o.HTTP == nil {
		o.HTTP = &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if o.User == "" {
		o.User = coordinator.DefaultUser
	}
	if o.EventWait <= 0 {
		o.EventWait = DefaultEventWait
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	return &Doctor{o: o}
}

// ErrUnknownCluster is returned by Run for a cluster the fleet lacks.
var ErrUnknownCluster = errors.New("no such cluster")

// Run checks every cluster of the fleet (or only the one named), in
// parallel, and builds the report.
func (d *Doctor) Run(ctx context.Context, fl *fleet.Fleet, only string) (Report, error) {
	var clusters []fleet.Cluster
	for _, c := range fl.Clusters {
		if only == "" || c.Name == only {
			clusters = append(clusters, c)
		}
	}
	if only != "" && len(clusters) == 0 {
		return Report{}, fmt.Errorf("%w %q", ErrUnknownCluster, only)
	}
	facts := make([]Facts, len(clusters))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, c := range clusters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			facts[i] = d.Collect(ctx, c)
		}()
	}
	wg.Wait()
	return Build(time.Now().UTC(), facts), nil
}

// primary is the coordinator taking the cluster's new queries.
func primary(c fleet.Cluster) fleet.Coordinator {
	for _, co := range c.Coordinators {
		if co.Name == c.Primary {
			return co
		}
	}
	for _, co := range c.Coordinators {
		if !co.Standby {
			return co
		}
	}
	if len(c.Coordinators) > 0 {
		return c.Coordinators[0]
	}
	return fleet.Coordinator{Name: "(none)"}
}

// Collect reads one cluster through its primary coordinator.
func (d *Doctor) Collect(ctx context.Context, c fleet.Cluster) Facts {
	ctx, cancel := context.WithTimeout(ctx, d.o.Timeout)
	defer cancel()
	co := primary(c)
	f := Facts{Cluster: c.Name, Group: c.Group, State: string(c.State), Coordinator: co.Name, URL: co.URL}
	if co.URL == "" {
		f.ReachErr = "the cluster has no coordinator"
		return f
	}
	info, err := d.o.Client.Info(ctx, co.URL)
	if err != nil {
		f.ReachErr = err.Error()
		return f
	}
	f.Reachable, f.Starting, f.Version = true, info.Starting, info.NodeVersion.Version
	if f.Starting {
		return f
	}
	// The probe first (the checks of many nodes must not use up the time
	// it needs), then the nodes, the session and /metrics, and last the
	// wait for the probe's event, which has had that time to arrive.
	eventBy := time.Now().Add(d.o.EventWait)
	d.probe(ctx, c, co, &f)
	d.nodes(ctx, &f)
	d.sessionDefaults(ctx, &f)
	if l, err := d.o.Client.Load(ctx, co.URL); err != nil {
		f.MetricsErr = err.Error()
	} else {
		f.Memory = &MemoryMetrics{QueriesKilled: l.QueriesKilledOOM, TasksKilled: l.TasksKilledOOM, BlockedNodes: l.MemoryBlockedNodes}
	}
	d.waitEvent(ctx, c.Name, eventBy, &f)
	return f
}

// maxNodeChecks bounds the nodes checked at once.
const maxNodeChecks = 8

// asGateway is the session of the doctor's queries: the gateway's user,
// the doctor's source.
func (d *Doctor) asGateway() coordinator.Session {
	return coordinator.Session{User: d.o.User, Source: Source}
}

func (d *Doctor) nodes(ctx context.Context, f *Facts) {
	res, err := d.o.Client.Execute(ctx, f.URL, "SELECT node_id, http_uri, node_version, coordinator, state FROM system.runtime.nodes ORDER BY node_id", d.asGateway())
	if err != nil {
		f.NodesErr = err.Error()
		return
	}
	for _, r := range res.Rows {
		if len(r) < 5 {
			continue
		}
		f.Nodes = append(f.Nodes, Node{ID: fmt.Sprint(r[0]), URI: fmt.Sprint(r[1]), Version: fmt.Sprint(r[2]), Coordinator: fmt.Sprint(r[3]) == "true", State: fmt.Sprint(r[4])})
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxNodeChecks)
	for i := range f.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			d.node(ctx, &f.Nodes[i])
		}()
	}
	wg.Wait()
}

// node reads one node's heap and pool, the memory of its machine, and
// (a worker) whether the gateway may shut it down.
func (d *Doctor) node(ctx context.Context, n *Node) {
	if st, err := d.o.Client.Status(ctx, n.URI); err != nil {
		n.StatusErr = err.Error()
	} else {
		n.Heap, n.Pool = st.HeapAvailable, st.MemoryInfo.Pool.MaxBytes
	}
	n.Memory, n.MemoryErr = d.machineMemory(ctx, n.URI)
	if !n.Coordinator && n.State == "active" {
		n.Shutdown = d.shutdownPermission(ctx, n.URI)
	}
}

// machineMemory reads the memory of a node's machine (or container limit)
// from the JVM's OperatingSystem MBean through Trino's JMX resource.
func (d *Doctor) machineMemory(ctx context.Context, nodeURI string) (int64, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(nodeURI, "/")+"/v1/jmx/mbean/java.lang:type=OperatingSystem/TotalMemorySize", nil)
	if err != nil {
		return 0, err.Error()
	}
	req.Header.Set(trino.HeaderUser, d.o.User)
	resp, err := d.o.HTTP.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return 0, err.Error()
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Sprintf("GET /v1/jmx/mbean/java.lang:type=OperatingSystem/TotalMemorySize: HTTP %d", resp.StatusCode)
	}
	var v int64
	if err := json.Unmarshal(b, &v); err != nil || v <= 0 {
		return 0, fmt.Sprintf("TotalMemorySize %q is not a size", clip(string(b), 40))
	}
	return v, ""
}

// shutdownPermission asks whether the gateway's user may change a node's
// state without changing it: the body is not a state, so a permitted
// request fails to parse (400) after the permission check, and a refused
// one is 403 before it.
func (d *Doctor) shutdownPermission(ctx context.Context, nodeURI string) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, strings.TrimRight(nodeURI, "/")+"/v1/info/state", strings.NewReader(`"SWITCHYARD_DOCTOR_PERMISSION_CHECK"`))
	if err != nil {
		return err.Error()
	}
	req.Close = true // see forwardedProbe
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(trino.HeaderUser, d.o.User)
	resp, err := d.o.HTTP.Do(req)
	if err != nil {
		return err.Error()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusForbidden:
		return ShutdownRefused
	case http.StatusBadRequest:
		return ShutdownPermitted
	}
	return fmt.Sprintf("unexpected HTTP %d", resp.StatusCode)
}

// sessionDefaults reads the session defaults the facts report.
func (d *Doctor) sessionDefaults(ctx context.Context, f *Facts) {
	res, err := d.o.Client.Execute(ctx, f.URL, "SHOW SESSION LIKE 'spill_enabled'", d.asGateway())
	if err != nil {
		f.SessionErr = err.Error()
		return
	}
	for _, r := range res.Rows {
		if len(r) >= 2 && fmt.Sprint(r[0]) == "spill_enabled" {
			on := fmt.Sprint(r[1]) == "true"
			f.SpillOn = &on
		}
	}
}

type probeResults struct {
	ID      string            `json:"id"`
	NextURI string            `json:"nextUri"`
	Error   *trino.QueryError `json:"error"`
}

// probe submits SELECT 1 to the coordinator as Envoy forwards it, checks
// the nextUri it builds and follows it through the gateway to the end;
// when that fails, a plain SELECT 1 stands in for the rest. Then it reads
// the query's retry policy and waits for its event.
func (d *Doctor) probe(ctx context.Context, c fleet.Cluster, co fleet.Coordinator, f *Facts) {
	id, ok := d.forwardedProbe(ctx, c, co, f)
	if !ok {
		res, err := d.o.Client.Execute(ctx, co.URL, "SELECT 1", d.asGateway())
		if err != nil {
			f.Probe.PlainErr = err.Error()
			var qe *coordinator.QueryError
			if errors.As(err, &qe) {
				f.Probe.QueryID = qe.QueryID
			}
			// Under retry-policy=TASK without an exchange manager every
			// query fails, SELECT 1 included.
			if ExchangeManagerMissing(err.Error()) {
				f.ExchangeErr, f.RetryPolicy = err.Error(), "TASK"
			}
			return
		}
		id = res.QueryID
	}
	f.Probe.QueryID = id
	f.RetryPolicy = d.retryPolicy(ctx, co.URL, id)
	if f.RetryPolicy == "TASK" {
		_, err := d.o.Client.Execute(ctx, co.URL, "SELECT x, count(*) FROM (VALUES 1, 2, 3) t(x) GROUP BY x", d.asGateway())
		if err != nil && ctx.Err() == nil {
			f.ExchangeErr = err.Error()
		}
	}
}

// waitEvent waits until by for the probe query's event to reach this
// control plane.
func (d *Doctor) waitEvent(ctx context.Context, cluster string, by time.Time, f *Facts) {
	id := f.Probe.QueryID
	if d.o.Events == nil || id == "" || (f.Probe.PlainErr != "" && f.Probe.Gateway != "ok") {
		return
	}
	f.Event = "missing"
	deadline := time.NewTimer(time.Until(by))
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !d.o.Events.Seen(cluster, id) {
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			return
		case <-tick.C:
		}
	}
	f.Event = "seen"
}

// forwardedProbe is the probe with the gateway's forwarded headers; ok
// says the query ran to its end.
func (d *Doctor) forwardedProbe(ctx context.Context, c fleet.Cluster, co fleet.Coordinator, f *Facts) (string, bool) {
	gw := d.o.GatewayURL
	if gw == "" {
		gw = "http://switchyard-doctor.invalid"
		f.Probe.GatewaySkipped = d.o.GatewaySkip
		if f.Probe.GatewaySkipped == "" {
			f.Probe.GatewaySkipped = "no gateway address"
		}
	} else if d.o.GatewaySkip != "" {
		f.Probe.GatewaySkipped = d.o.GatewaySkip
	}
	gu, err := url.Parse(gw)
	if err != nil || gu.Host == "" {
		f.Probe.Err = fmt.Sprintf("gateway address %q: not a URL", gw)
		return "", false
	}
	prefix := trino.CoordinatorPrefix(c.Name, co.Name)
	f.Probe.Want = strings.TrimRight(gw, "/") + prefix + "/v1/statement/"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(co.URL, "/")+"/v1/statement", strings.NewReader("SELECT 1"))
	if err != nil {
		f.Probe.Err = err.Error()
		return "", false
	}
	// Probes that a coordinator may refuse (406, 403) go on their own
	// connection: Jetty can close it after the refusal, and a pooled
	// connection closed under the next POST fails it with EOF.
	req.Close = true
	req.Header.Set(trino.HeaderUser, d.o.User)
	req.Header.Set(trino.HeaderSource, Source)
	req.Header.Set("X-Forwarded-Proto", gu.Scheme)
	req.Header.Set("X-Forwarded-Host", gu.Host)
	req.Header.Set("X-Forwarded-Prefix", prefix)
	status, qr, err := d.fetch(req)
	f.Probe.Status = status
	if err != nil {
		f.Probe.Err = err.Error()
		return "", false
	}
	f.Probe.QueryID, f.Probe.NextURI = qr.ID, qr.NextURI
	if !strings.HasPrefix(qr.NextURI, f.Probe.Want) {
		d.cancel(ctx, co.URL, qr.ID)
		return "", false
	}
	// Follow the query to its end: through the gateway, or (no gateway to
	// go through) on the coordinator, with the headers Envoy adds.
	via := ""
	if f.Probe.GatewaySkipped != "" {
		via = strings.TrimRight(co.URL, "/")
	}
	outcome, unreachable := d.roundTrip(ctx, qr, strings.TrimRight(gw, "/")+prefix, via, req.Header)
	switch {
	case unreachable:
		// Envoy may run elsewhere: the coordinator's side of the check
		// passed, the round trip could not be tried.
		f.Probe.GatewaySkipped = outcome
	case f.Probe.GatewaySkipped == "":
		f.Probe.Gateway = outcome
	case outcome != "ok":
		f.Probe.Err = outcome
	}
	if outcome != "ok" {
		d.cancel(ctx, co.URL, qr.ID)
		return "", false
	}
	return qr.ID, true
}

// roundTrip follows the probe's nextUri until the query ends; every
// nextUri must keep the gateway's address and prefix (base). With via set,
// each request goes to via instead (the coordinator), the prefix taken off
// and the forwarded headers sent again, as Envoy does.
func (d *Doctor) roundTrip(ctx context.Context, qr *probeResults, base, via string, forwarded http.Header) (outcome string, unreachable bool) {
	for i := range maxProbePages {
		if qr.Error != nil {
			return fmt.Sprintf("the probe query failed: %s: %s", qr.Error.ErrorName, qr.Error.Message), false
		}
		if qr.NextURI == "" {
			return "ok", false
		}
		if !strings.HasPrefix(qr.NextURI, base+"/") {
			return fmt.Sprintf("nextUri %s left the gateway prefix %s", qr.NextURI, base), false
		}
		target := qr.NextURI
		if via != "" {
			target = via + strings.TrimPrefix(qr.NextURI, base)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		if err != nil {
			return err.Error(), false
		}
		if via != "" {
			for _, h := range []string{"X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Prefix"} {
				req.Header.Set(h, forwarded.Get(h))
			}
		}
		req.Header.Set(trino.HeaderUser, d.o.User)
		status, next, err := d.fetch(req)
		if err != nil {
			if i == 0 && status == 0 && via == "" && ctx.Err() == nil {
				return fmt.Sprintf("the gateway at %s did not answer (%v): is Envoy on another host? the forwarded headers were checked on the coordinator", origin(base), err), true
			}
			return fmt.Sprintf("GET %s: %v", pathOf(qr.NextURI), err), false
		}
		qr = next
	}
	return fmt.Sprintf("the probe query did not end within %d pages", maxProbePages), false
}

func origin(uri string) string {
	if u, err := url.Parse(uri); err == nil {
		return u.Scheme + "://" + u.Host
	}
	return uri
}

// ExchangeManagerMissing reports whether a query error is Trino's
// refusal to run under retry-policy=TASK without an exchange manager.
func ExchangeManagerMissing(msg string) bool {
	return strings.Contains(msg, "EXCHANGE_MANAGER_NOT_CONFIGURED") || strings.Contains(msg, "Exchange manager must be configured")
}

func (d *Doctor) fetch(req *http.Request) (int, *probeResults, error) {
	resp, err := d.o.HTTP.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return resp.StatusCode, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, clip(string(b), 200))
	}
	var qr probeResults
	if err := json.Unmarshal(b, &qr); err != nil {
		return resp.StatusCode, nil, fmt.Errorf("not a QueryResults document: %v", err)
	}
	return resp.StatusCode, &qr, nil
}

// cancel ends a probe query on the coordinator (DELETE /v1/query/{id}).
func (d *Doctor) cancel(ctx context.Context, base, id string) {
	if id == "" {
		return
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, strings.TrimRight(base, "/")+"/v1/query/"+url.PathEscape(id), nil)
	if err != nil {
		return
	}
	req.Header.Set(trino.HeaderUser, d.o.User)
	if resp, err := d.o.HTTP.Do(req); err == nil {
		resp.Body.Close()
	}
}

// retryPolicy reads the probe query's retry policy (the cluster's
// default; SHOW SESSION hides retry_policy).
func (d *Doctor) retryPolicy(ctx context.Context, base, id string) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/v1/query/"+url.PathEscape(id), nil)
	if err != nil {
		return ""
	}
	req.Header.Set(trino.HeaderUser, d.o.User)
	resp, err := d.o.HTTP.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var info struct {
		RetryPolicy string `json:"retryPolicy"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, maxBody)).Decode(&info) != nil {
		return ""
	}
	return info.RetryPolicy
}

func pathOf(uri string) string {
	if u, err := url.Parse(uri); err == nil {
		return u.Path
	}
	return uri
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

package doctor

import (
	"fmt"
	"sort"
	"strings"
)

// Fixes shared by several findings.
const (
	fixForwarded = "set http-server.process-forwarded=true in the coordinator's config.properties (deploy/trino/profiles/coordinator.properties) and restart it"
	fixEvents    = "install http-event-listener.properties on the coordinator (deploy/trino/http-event-listener.properties) with http-event-listener.connect-ingest-uri at this control plane's /v1/events and the cluster's secret from events.secrets, and event-listener.config-files pointing at it"
	fixShutdown  = "grant the gateway's user system_information write in Trino's file-based access control (deploy/trino/profiles/rules.json and access-control.properties on every node); Trino's default access control refuses graceful shutdown to everyone"
	fixHeadroom  = "give memory.heap-headroom-per-node 30% of the heap (Trino's default) and lower query.max-memory-per-node to fit: `switchyard trino config` computes both for the node"
	fixExchange  = "configure the exchange manager on every node (etc/exchange-manager.properties, deploy/trino/profiles/exchange-manager.properties) or set retry-policy=NONE"
)

// Headroom shares of the heap below which the doctor warns and errs:
// Trino's default is 30%; the headroom holds what Trino does not account
// (network and exchange buffers, generated code, metadata caches).
const (
	headroomWarnPercent  = 20
	headroomErrorPercent = 10
)

func (a *analysis) run(fl Fleet) {
	f := a.f
	if !f.Reachable {
		a.add("coordinator-unreachable", Error, f.Coordinator, "start the coordinator or correct its URL in the fleet definition",
			"coordinator %s (%s) does not answer /v1/info: %s; nothing else was checked", f.Coordinator, f.URL, f.ReachErr)
		return
	}
	if f.Starting {
		a.add("coordinator-starting", Warning, f.Coordinator, "run the doctor again once it has started",
			"coordinator %s is still starting; nothing else was checked", f.Coordinator)
		return
	}
	a.nodes()
	a.memory()
	a.memoryMetrics()
	a.probe()
	a.fte()
	a.shutdown()
	a.groupVersions(fl)
}

func (a *analysis) nodes() {
	f := a.f
	if f.NodesErr != "" {
		a.add("nodes-unreadable", Warning, f.Coordinator, "check that the gateway's user may run queries on system.runtime",
			"cannot list the cluster's nodes (system.runtime.nodes): %s; node checks skipped", f.NodesErr)
		return
	}
	versions := map[string][]string{}
	workers := 0
	for _, n := range f.Nodes {
		versions[n.Version] = append(versions[n.Version], n.ID)
		if !n.Coordinator {
			workers++
		}
		if n.State != "active" && f.State != "draining" && f.State != "drained" {
			a.add("node-not-active", Warning, n.ID, "find out why the node left (its log, GET /v1/info/state) and bring it back or replace it",
				"node %s is %s while the cluster is %s", n.ID, n.State, orUnknown(f.State))
		}
	}
	if len(versions) > 1 {
		var parts []string
		for v, ids := range versions {
			sort.Strings(ids)
			parts = append(parts, fmt.Sprintf("%s on %s", v, strings.Join(ids, ", ")))
		}
		sort.Strings(parts)
		a.add("versions-mixed", Error, "", "run one Trino version on every node of a cluster (upgrade with a blue/green switch of whole clusters instead)",
			"the cluster's nodes run different Trino versions: %s", strings.Join(parts, "; "))
	}
	switch {
	case len(f.Nodes) == 0:
		a.add("no-nodes", Error, "", "check the workers' discovery.uri and that they are running",
			"the coordinator lists no active node: queries cannot run")
	case workers == 0:
		a.add("single-node", Info, "", "for availability run workers (node-scheduler.include-coordinator=false, deploy/trino/profiles) with retry-policy=TASK",
			"single node: the coordinator runs every task, so losing it loses every running query")
	}
}

func (a *analysis) memory() {
	heaps := map[int64][]string{}
	for _, n := range a.f.Nodes {
		if n.StatusErr != "" {
			a.add("node-status-unreadable", Info, n.ID, "let the control plane reach every node's /v1/status (the port of http_uri)",
				"cannot read %s's /v1/status: %s; its memory was not checked", n.ID, n.StatusErr)
			continue
		}
		if n.Heap <= 0 {
			continue
		}
		if !n.Coordinator {
			heaps[n.Heap] = append(heaps[n.Heap], n.ID)
		}
		a.heapAgainstMachine(n)
		headroom := n.Heap - n.Pool
		pct := headroom * 100 / n.Heap
		sev := Severity("")
		switch {
		case pct < headroomErrorPercent:
			sev = Error
		case pct < headroomWarnPercent:
			sev = Warning
		}
		if sev != "" {
			a.add("memory-over-heap", sev, n.ID, fixHeadroom,
				"queries may reserve %s of %s's %s heap, leaving %s (%d%%) for the memory Trino does not account (network and exchange buffers, generated code, caches): under load the heap runs out before queries reach their limits (full GCs, then an OutOfMemoryError)",
				size(n.Pool), n.ID, size(n.Heap), size(headroom), pct)
		}
	}
	if len(heaps) > 1 {
		var parts []string
		for h, ids := range heaps {
			sort.Strings(ids)
			parts = append(parts, fmt.Sprintf("%s on %s", size(h), strings.Join(ids, ", ")))
		}
		sort.Strings(parts)
		a.add("heaps-differ", Warning, "", "give every worker the same size and settings (`switchyard trino config --role worker`)",
			"workers have different heaps (%s): the scheduler treats workers as equal, so the smallest one fails or blocks first", strings.Join(parts, "; "))
	}
}

func (a *analysis) memoryMetrics() {
	f := a.f
	switch {
	case f.MetricsErr != "":
		a.add("metrics-unreadable", Info, f.Coordinator, "let the gateway's user read /metrics",
			"cannot read the coordinator's /metrics: %s; memory pressure was not checked", f.MetricsErr)
	case f.Memory == nil:
	case f.Memory.QueriesKilled > 0 || f.Memory.TasksKilled > 0:
		a.add("low-memory-kills", Warning, f.Coordinator, "give the workers more memory or fewer concurrent queries (`switchyard trino config`, resource groups), or let big queries spill (spill.properties) or retry their tasks (fte.properties)",
			"the low-memory killer killed %d queries and %d tasks since the coordinator started: the workers' memory pools ran full", f.Memory.QueriesKilled, f.Memory.TasksKilled)
	}
	if f.Memory != nil && f.Memory.BlockedNodes > 0 {
		a.add("memory-blocked-nodes", Warning, f.Coordinator, "find the queries holding the memory (system.runtime.queries, the gateway's queries list) and size the workers (`switchyard trino config`)",
			"%d node(s) have a full memory pool now: their queries wait for memory", f.Memory.BlockedNodes)
	}
}

// Heap shares of the machine's memory above which the doctor warns and
// errs: Trino recommends 70-85%; the JVM needs memory beyond the heap
// (metaspace, code cache, thread stacks, direct buffers) and so does the
// operating system.
const (
	heapWarnPercent  = 85
	heapErrorPercent = 90
)

func (a *analysis) heapAgainstMachine(n Node) {
	if n.Memory <= 0 {
		if n.MemoryErr != "" {
			a.add("machine-memory-unknown", Info, n.ID, "let the gateway's user read /v1/jmx (management read)",
				"cannot read %s's machine memory: %s; the heap was not compared with it", n.ID, n.MemoryErr)
		}
		return
	}
	pct := n.Heap * 100 / n.Memory
	sev := Severity("")
	switch {
	case pct >= heapErrorPercent:
		sev = Error
	case pct >= heapWarnPercent:
		sev = Warning
	}
	if sev != "" {
		a.add("heap-near-machine-memory", sev, n.ID, "set -Xmx to 70-80% of the node's memory (`switchyard trino config --memory ...`)",
			"%s's heap is %s, %d%% of its machine's %s: the JVM's memory beyond the heap and the operating system do not fit, and the kernel's OOM killer ends the process", n.ID, size(n.Heap), pct, size(n.Memory))
	}
}

func (a *analysis) probe() {
	f := a.f
	p := f.Probe
	if ExchangeManagerMissing(f.ExchangeErr) {
		// Every query fails, the probes included: fte() reports why.
		return
	}
	switch {
	case p.Status == 406:
		a.add("forwarded-headers-off", Error, f.Coordinator, fixForwarded,
			"the coordinator refuses requests carrying X-Forwarded-* headers (HTTP 406): http-server.process-forwarded is off, so every query sent through the gateway fails")
	case p.Err != "":
		a.add("probe-failed", Error, f.Coordinator, "run SELECT 1 on the coordinator as the gateway's user and fix what fails",
			"the probe query (SELECT 1 with the gateway's forwarded headers) failed: %s", p.Err)
	case p.NextURI != "" && !strings.HasPrefix(p.NextURI, p.Want):
		a.add("forwarded-headers-off", Error, f.Coordinator, fixForwarded,
			"the coordinator built nextUri %s from its own address instead of the forwarded headers (want %s...): clients would follow it around the gateway, so stickiness, failover and governance break", p.NextURI, p.Want)
	case p.Gateway != "" && p.Gateway != "ok":
		a.add("gateway-round-trip", Error, f.Coordinator, "check the coordinator's route in Envoy (switchyard validate, the xDS listener) and that the prefix /_sy/... reaches it",
			"following the probe's nextUri through the gateway failed: %s", p.Gateway)
	case p.GatewaySkipped != "":
		a.add("gateway-round-trip-skipped", Info, f.Coordinator, "", "the round trip through the gateway was not checked: %s", p.GatewaySkipped)
	}
	if p.PlainErr != "" {
		a.add("probe-failed", Error, f.Coordinator, "run SELECT 1 on the coordinator as the gateway's user and fix what fails",
			"SELECT 1 failed on the coordinator: %s; the retry policy and the event listener were not checked", p.PlainErr)
	}
	if f.Event == "missing" {
		a.add("event-listener-missing", Error, f.Coordinator, fixEvents,
			"the probe query %s finished but its completion event did not reach this control plane: query history, governance's completion accounting and this check lose the cluster", p.QueryID)
	}
}

func (a *analysis) fte() {
	f := a.f
	if f.ExchangeErr == "" {
		return
	}
	if ExchangeManagerMissing(f.ExchangeErr) {
		a.add("fte-without-exchange-manager", Error, f.Coordinator, fixExchange,
			"retry-policy is TASK but no exchange manager is configured, so every query fails (the probe too): %s", f.ExchangeErr)
		return
	}
	a.add("probe-failed", Error, f.Coordinator, "run a GROUP BY query on the cluster and fix what fails",
		"a query with an exchange failed under retry-policy %s: %s", f.RetryPolicy, f.ExchangeErr)
}

func (a *analysis) shutdown() {
	for _, n := range a.f.Nodes {
		if n.Coordinator || n.Shutdown == "" {
			continue
		}
		switch n.Shutdown {
		case ShutdownPermitted:
		case ShutdownRefused:
			a.add("shutdown-not-permitted", Warning, n.ID, fixShutdown,
				"the gateway's identity may not shut down worker %s gracefully (HTTP 403): a drain with shutdownWorkers leaves it running", n.ID)
		default:
			a.add("shutdown-unknown", Info, n.ID, "", "could not check whether the gateway may shut %s down: %s", n.ID, n.Shutdown)
		}
	}
}

func (a *analysis) groupVersions(fl Fleet) {
	f := a.f
	byVersion := map[string][]string{}
	for cluster, v := range fl.Versions[f.Group] {
		byVersion[v] = append(byVersion[v], cluster)
	}
	if len(byVersion) < 2 || f.Version == "" {
		return
	}
	var parts []string
	switching := false
	for v, cs := range byVersion {
		sort.Strings(cs)
		parts = append(parts, fmt.Sprintf("%s on %s", v, strings.Join(cs, ", ")))
		for _, c := range cs {
			if st := fl.States[c]; st != "" && st != "active" {
				switching = true
			}
		}
	}
	sort.Strings(parts)
	if switching {
		a.add("group-versions-mixed", Info, "", "", "group %s runs %s while one of its clusters is not active (a blue/green switch or rolling upgrade)", f.Group, strings.Join(parts, "; "))
		return
	}
	a.add("group-versions-mixed", Warning, "", "upgrade the group with a blue/green switch (switchyard bluegreen) so one version serves it at a time",
		"group %s serves queries from different Trino versions (%s) with every cluster active: results, functions and session properties can differ between two runs of one query", f.Group, strings.Join(parts, "; "))
}

func orUnknown(s string) string {
	if s == "" {
		return "in an unknown state"
	}
	return s
}

// size formats bytes as Trino does (MB below 10GB, GB from there).
func size(b int64) string {
	const mib, gib = 1 << 20, 1 << 30
	switch {
	case b >= 10*gib:
		return fmt.Sprintf("%.1fGB", float64(b)/gib)
	case b >= mib:
		return fmt.Sprintf("%dMB", b/mib)
	}
	return fmt.Sprintf("%dB", b)
}

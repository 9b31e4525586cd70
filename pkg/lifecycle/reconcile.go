package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/coordinator"
	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/health"
)

// Reconcile advances drains, as the reconciler holding the lease token:
// it calls coordinators (query counts, worker shutdown), so one replica
// runs it (RunReconciler), and its writes are refused once a reconciler
// with a newer token has written. The write that moves a cluster to
// drained is the one that shuts its workers down.
func (m *Manager) Reconcile(ctx context.Context, token int64) {
	f := m.Fleet()
	if f == nil {
		return
	}
	for i := range f.Clusters {
		if c := &f.Clusters[i]; c.State == fleet.Draining && c.Drain != nil {
			m.reconcileDrain(ctx, token, c)
		}
	}
}

// Failover moves new queries of a cluster without failback to a healthy
// coordinator when the one taking them is down. It reads only this
// replica's health view and calls no coordinator, so every replica runs it
// (RunFailover): the first to see the failure records it, within a health
// interval, whichever replica holds the reconciler's lease.
func (m *Manager) Failover(ctx context.Context) {
	f := m.Fleet()
	if f == nil {
		return
	}
	for i := range f.Clusters {
		if c := &f.Clusters[i]; !c.Failback && len(c.Coordinators) > 1 {
			m.reconcilePrimary(ctx, c)
		}
	}
}

// queryStates that still need the cluster.
var unfinished = map[string]bool{
	"QUEUED": true, "WAITING_FOR_RESOURCES": true, "DISPATCHING": true, "PLANNING": true,
	"STARTING": true, "RUNNING": true, "FINISHING": true,
}

// outstanding lists the queries of a cluster that have not finished, from
// every coordinator's /v1/query. A coordinator that the health checks
// consider down has lost its queries and counts as empty; one that does
// not answer but is not known to be down makes the count unknown.
func (m *Manager) outstanding(ctx context.Context, c *fleet.Cluster) (running, queued int, ids []string, err error) {
	for _, co := range c.Coordinators {
		list, lerr := m.o.Client.Queries(ctx, co.URL, "")
		if lerr != nil {
			if m.o.Health.State(fleet.Key(c.Name, co.Name)) == health.Unhealthy {
				continue
			}
			return 0, 0, nil, fmt.Errorf("coordinator %s: %w", co.Name, lerr)
		}
		for _, q := range list {
			if !unfinished[q.State] {
				continue
			}
			if q.State == "RUNNING" || q.State == "FINISHING" {
				running++
			} else {
				queued++
			}
			ids = append(ids, fmt.Sprintf("%s (%s, user %s)", q.QueryID, strings.ToLower(q.State), q.Session.User))
		}
	}
	slices.Sort(ids)
	return running, queued, ids, nil
}

func (m *Manager) reconcileDrain(ctx context.Context, token int64, c *fleet.Cluster) {
	now := m.o.Now()
	d := c.Drain
	if !d.Finished.IsZero() {
		return
	}
	running, queued, ids, err := m.outstanding(ctx, c)
	if err != nil {
		m.o.Logger.Warn("drain: cannot count the cluster's queries", "cluster", c.Name, "error", err)
		return
	}
	done := running+queued == 0 && now.Sub(d.Started) >= m.o.DrainGrace
	timedOut := !done && !d.TimedOut && now.After(d.Deadline)
	if !done && !timedOut && running == d.Running && queued == d.Queued {
		return // no progress to record
	}
	var won bool
	err = m.updateFenced(ctx, token, func(doc *fleet.Doc) error {
		st := doc.Status[c.Name]
		if st.State != fleet.Draining || st.Drain == nil || !st.Drain.Started.Equal(d.Started) || !st.Drain.Finished.IsZero() {
			won = false
			return errStale
		}
		dr := *st.Drain
		dr.Running, dr.Queued, dr.Checked = running, queued, now
		switch {
		case done:
			dr.Finished = now
			st.State, st.Since = fleet.Drained, now
		case timedOut:
			dr.TimedOut, dr.Remaining = true, ids
		}
		st.Drain = &dr
		doc.Status[c.Name] = st
		won = true
		return nil
	})
	if err != nil && err != errStale {
		m.o.Logger.Warn("drain: recording progress failed", "cluster", c.Name, "error", err)
		return
	}
	switch {
	case won && done:
		m.o.Logger.Info("cluster drained", "cluster", c.Name, "after", now.Sub(d.Started).Round(time.Millisecond))
		if d.ShutdownWorkers {
			m.shutdownWorkers(ctx, token, c)
		}
	case won && timedOut:
		m.o.Logger.Warn("drain timed out; the cluster keeps draining", "cluster", c.Name, "remaining", ids)
	}
}

var errStale = &Error{Status: http.StatusConflict, Message: "stale"}

// reconcilePrimary fails a cluster without failback over to a healthy
// coordinator when the one taking new queries is down; it stays there.
func (m *Manager) reconcilePrimary(ctx context.Context, c *fleet.Cluster) {
	key := func(name string) string { return fleet.Key(c.Name, name) }
	current := c.Primary
	if current == "" {
		for _, co := range c.Coordinators {
			if !co.Standby {
				current = co.Name
				break
			}
		}
	}
	if m.o.Health.State(key(current)) != health.Unhealthy {
		return
	}
	next := ""
	for _, standbyPass := range []bool{false, true} { // active roles first
		for _, co := range c.Coordinators {
			if co.Name != current && co.Standby == standbyPass && m.o.Health.State(key(co.Name)) == health.Healthy {
				next = co.Name
				break
			}
		}
		if next != "" {
			break
		}
	}
	if next == "" {
		return
	}
	err := m.update(ctx, func(doc *fleet.Doc) error {
		st := doc.Status[c.Name]
		st.Primary = next
		doc.Status[c.Name] = st
		return nil
	})
	if err != nil {
		m.o.Logger.Warn("failover: recording the new primary failed", "cluster", c.Name, "error", err)
		return
	}
	m.o.Logger.Info("coordinator failover without failback", "cluster", c.Name, "from", current, "to", next)
}

// shutdownWorkers asks every worker of a drained cluster to shut down
// gracefully (coordinators are left running: they serve the UI and the
// REST API of finished queries).
func (m *Manager) shutdownWorkers(ctx context.Context, token int64, c *fleet.Cluster) {
	var done []string
	asked := map[string]bool{} // coordinators of one cluster share its workers
	for _, co := range c.Coordinators {
		nodes, err := m.workerURIs(ctx, co.URL)
		if err != nil {
			m.o.Logger.Warn("drain: cannot list workers", "cluster", c.Name, "coordinator", co.Name, "error", err)
			continue
		}
		for _, uri := range nodes {
			if asked[uri] {
				continue
			}
			asked[uri] = true
			err := m.o.Client.SetNodeState(ctx, uri, coordinator.NodeShuttingDown)
			var se *coordinator.StatusError
			switch {
			case errors.As(err, &se):
				m.o.Logger.Warn("drain: worker refused to shut down", "cluster", c.Name, "worker", uri, "status", se.Status, "error", err)
				continue
			case err != nil:
				m.o.Logger.Warn("drain: worker shutdown failed", "cluster", c.Name, "worker", uri, "error", err)
				continue
			}
			done = append(done, uri)
		}
	}
	if len(done) == 0 {
		return
	}
	_ = m.updateFenced(ctx, token, func(doc *fleet.Doc) error {
		st := doc.Status[c.Name]
		if st.Drain == nil {
			return errStale
		}
		dr := *st.Drain
		dr.WorkersShutDown = done
		st.Drain = &dr
		doc.Status[c.Name] = st
		return nil
	})
	m.o.Logger.Info("drain: workers shutting down", "cluster", c.Name, "workers", done)
}

// workerURIs lists the worker nodes a coordinator knows, as base URLs.
// GET /v1/node lists the nodes other than the coordinator by the URI its
// failure detector polls (Trino 476: http://host:port/v1/status), once per
// announcement, so a restarted node can appear twice.
func (m *Manager) workerURIs(ctx context.Context, base string) ([]string, error) {
	nodes, err := m.o.Client.Nodes(ctx, base)
	if err != nil {
		return nil, err
	}
	self := nodeBase(base)
	seen := map[string]bool{}
	var out []string
	for _, n := range nodes {
		b := nodeBase(n.URI)
		if b == "" || b == self || seen[b] {
			continue
		}
		seen[b] = true
		out = append(out, b)
	}
	return out, nil
}

// nodeBase is scheme://host:port of a node URI ("" if it is not one).
func nodeBase(uri string) string {
	u, err := url.Parse(strings.TrimSpace(uri))
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/config"
	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/health"
)

func (m *Manager) groups() map[string]bool {
	g := map[string]bool{}
	for _, gr := range m.o.Config.Groups {
		g[gr.Name] = true
	}
	return g
}

func (m *Manager) validate(c *config.Cluster) error {
	c.ApplyDefaults()
	if errs := config.ValidateCluster("cluster", *c, m.groups()); len(errs) > 0 {
		return &Error{Status: http.StatusBadRequest, Message: errors.Join(errs...).Error()}
	}
	names := map[string]bool{}
	for _, co := range c.Coordinators {
		names[co.Name] = true
	}
	if len(names) != len(c.Coordinators) {
		return errorf(http.StatusBadRequest, "cluster.coordinators: names must be unique")
	}
	return nil
}

// AddCluster registers a new cluster in the state its definition says
// (active unless "inactive").
func (m *Manager) AddCluster(ctx context.Context, c config.Cluster) error {
	if err := m.validate(&c); err != nil {
		return err
	}
	return m.update(ctx, func(d *fleet.Doc) error {
		if old, _ := d.Cluster(c.Name); old != nil {
			return errorf(http.StatusConflict, "cluster %s already exists", c.Name)
		}
		d.Clusters = append(d.Clusters, c)
		d.Status[c.Name] = fleet.Status{State: fleet.State(c.State), Since: m.o.Now()}
		return nil
	})
}

// UpdateCluster replaces a cluster's definition; its lifecycle state stays.
func (m *Manager) UpdateCluster(ctx context.Context, name string, c config.Cluster) error {
	if c.Name == "" {
		c.Name = name
	}
	if c.Name != name {
		return errorf(http.StatusBadRequest, "cluster.name: %q does not match the cluster in the path (%s); a cluster cannot be renamed", c.Name, name)
	}
	if err := m.validate(&c); err != nil {
		return err
	}
	return m.update(ctx, func(d *fleet.Doc) error {
		_, i := d.Cluster(name)
		if i < 0 {
			return errorf(http.StatusNotFound, "no cluster %s", name)
		}
		d.Clusters[i] = c
		return nil
	})
}

// RemoveCluster deletes a cluster. Unless forced, it must first stop taking
// queries (inactive or drained), so removing it loses nothing.
func (m *Manager) RemoveCluster(ctx context.Context, name string, force bool) error {
	return m.update(ctx, func(d *fleet.Doc) error {
		_, i := d.Cluster(name)
		if i < 0 {
			return errorf(http.StatusNotFound, "no cluster %s", name)
		}
		if st := d.Status[name].State; !force && st != fleet.Inactive && st != fleet.Drained {
			return errorf(http.StatusConflict, "cluster %s is %s: drain or deactivate it before removing it (or force)", name, st)
		}
		d.Clusters = slices.Delete(d.Clusters, i, i+1)
		delete(d.Status, name)
		return nil
	})
}

// SetState activates (active) or deactivates (inactive) a cluster at once.
// Deactivating stops new queries immediately without waiting; running
// queries go on.
func (m *Manager) SetState(ctx context.Context, name string, st fleet.State) error {
	if st != fleet.Active && st != fleet.Inactive {
		return errorf(http.StatusBadRequest, "state must be active or inactive, got %q", st)
	}
	return m.update(ctx, func(d *fleet.Doc) error {
		if c, _ := d.Cluster(name); c == nil {
			return errorf(http.StatusNotFound, "no cluster %s", name)
		}
		d.Status[name] = fleet.Status{State: st, Since: m.o.Now(), Primary: d.Status[name].Primary}
		return nil
	})
}

// TakeOut makes an active cluster inactive for auto-recovery, with the
// reason; a cluster in any other state (an operator's drain or
// deactivation, or already out) is left alone (409).
func (m *Manager) TakeOut(ctx context.Context, name, reason string) error {
	return m.update(ctx, func(d *fleet.Doc) error {
		c, _ := d.Cluster(name)
		if c == nil {
			return errorf(http.StatusNotFound, "no cluster %s", name)
		}
		st := d.Status[name]
		if st.State == "" {
			st.State = fleet.State(c.State)
		}
		if st.State != fleet.Active {
			return errorf(http.StatusConflict, "cluster %s is %s, not active", name, st.State)
		}
		now := m.o.Now()
		d.Status[name] = fleet.Status{State: fleet.Inactive, Since: now, Primary: st.Primary, Auto: &fleet.AutoOut{Reason: reason, Since: now}}
		return nil
	})
}

// Readmit makes a cluster that auto-recovery took out active again; one
// an operator changed since (its state or its reason is gone) is left
// alone (409).
func (m *Manager) Readmit(ctx context.Context, name string) error {
	return m.update(ctx, func(d *fleet.Doc) error {
		if c, _ := d.Cluster(name); c == nil {
			return errorf(http.StatusNotFound, "no cluster %s", name)
		}
		st := d.Status[name]
		if st.State != fleet.Inactive || st.Auto == nil {
			return errorf(http.StatusConflict, "cluster %s is not held out by auto-recovery", name)
		}
		d.Status[name] = fleet.Status{State: fleet.Active, Since: m.o.Now(), Primary: st.Primary}
		return nil
	})
}

// SetWeight changes a cluster's weight.
func (m *Manager) SetWeight(ctx context.Context, name string, w int) error {
	if w < 0 || w > 10000 {
		return errorf(http.StatusBadRequest, "weight must be between 0 and 10000, got %d", w)
	}
	return m.update(ctx, func(d *fleet.Doc) error {
		c, _ := d.Cluster(name)
		if c == nil {
			return errorf(http.StatusNotFound, "no cluster %s", name)
		}
		c.Weight = &w
		return nil
	})
}

// StartDrain stops new queries to a cluster at once and lets Reconcile
// mark it drained when its running and queued queries reach zero.
func (m *Manager) StartDrain(ctx context.Context, name string, timeout time.Duration, shutdownWorkers bool) error {
	if timeout <= 0 {
		timeout = m.o.Config.Admin.DrainTimeout
	}
	now := m.o.Now()
	return m.update(ctx, func(d *fleet.Doc) error {
		if c, _ := d.Cluster(name); c == nil {
			return errorf(http.StatusNotFound, "no cluster %s", name)
		}
		st := d.Status[name]
		if st.State == fleet.Draining {
			return nil // already draining: keep its progress
		}
		d.Status[name] = fleet.Status{State: fleet.Draining, Since: now, Primary: st.Primary,
			Drain: &fleet.Drain{Started: now, Deadline: now.Add(timeout), ShutdownWorkers: shutdownWorkers, Running: -1, Queued: -1}}
		return nil
	})
}

// BlueGreenReport says what a blue/green switch did.
type BlueGreenReport struct {
	Group     string        `json:"group"`
	Activated []string      `json:"activated"`
	Draining  []string      `json:"draining"`
	Healthy   time.Duration `json:"-"`
	HealthyMS int64         `json:"greenHealthyAfterMs"`
}

// BlueGreen moves a routing group to the clusters named in to: they join
// the group and become active; once every one of them is healthy, the
// group's other active clusters start draining. Running queries are never
// interrupted; new queries go to green from the moment it is healthy.
func (m *Manager) BlueGreen(ctx context.Context, group string, to []string, healthTimeout, drainTimeout time.Duration) (*BlueGreenReport, error) {
	if !m.groups()[group] {
		return nil, errorf(http.StatusBadRequest, "unknown routing group %q", group)
	}
	if len(to) == 0 {
		return nil, errorf(http.StatusBadRequest, "name at least one cluster to move the group to")
	}
	if healthTimeout <= 0 {
		healthTimeout = 2 * time.Minute
	}
	start := m.o.Now()
	err := m.update(ctx, func(d *fleet.Doc) error {
		for _, name := range to {
			c, _ := d.Cluster(name)
			if c == nil {
				return errorf(http.StatusNotFound, "no cluster %s", name)
			}
			c.Group = group
			d.Status[name] = fleet.Status{State: fleet.Active, Since: start, Primary: d.Status[name].Primary}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Wait until green is healthy, polling with a deadline.
	deadline := time.Now().Add(healthTimeout)
	for {
		var notReady []string
		f := m.Fleet()
		for _, name := range to {
			if c, ok := f.Cluster(name); !ok || !m.clusterUp(c) {
				notReady = append(notReady, name)
			}
		}
		if len(notReady) == 0 {
			break
		}
		if time.Now().After(deadline) {
			return nil, errorf(http.StatusGatewayTimeout, "cluster(s) %s not healthy after %v; they are active in group %s but get no queries until healthy, and the group's other clusters were left as they were",
				strings.Join(notReady, ", "), healthTimeout, group)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	rep := &BlueGreenReport{Group: group, Activated: to, Healthy: m.o.Now().Sub(start)}
	rep.HealthyMS = rep.Healthy.Milliseconds()
	for _, c := range m.Fleet().ClustersIn(group) {
		if c.State == fleet.Active && !slices.Contains(to, c.Name) {
			if err := m.StartDrain(ctx, c.Name, drainTimeout, m.o.Config.Admin.ShutdownWorkers); err != nil {
				return rep, err
			}
			rep.Draining = append(rep.Draining, c.Name)
		}
	}
	m.o.Logger.Info("blue/green switch", "group", group, "activated", to, "draining", rep.Draining, "greenHealthyAfter", rep.Healthy)
	return rep, nil
}

// clusterUp: some coordinator is healthy.
func (m *Manager) clusterUp(c *fleet.Cluster) bool {
	for _, co := range c.Coordinators {
		if m.o.Health.State(fleet.Key(c.Name, co.Name)) == health.Healthy {
			return true
		}
	}
	return false
}

// ClusterView is a cluster as the admin API shows it.
type ClusterView struct {
	Name         string            `json:"name"`
	Group        string            `json:"group"`
	State        fleet.State       `json:"state"`
	Health       string            `json:"health"` // healthy, unhealthy, starting, unknown
	Weight       int               `json:"weight"`
	Failback     bool              `json:"failback"`
	Load         health.Load       `json:"load"`
	Coordinators []CoordinatorView `json:"coordinators"`
	Drain        *fleet.Drain      `json:"drain,omitempty"`
	// AutoRecovery is set while auto-recovery holds the cluster out.
	AutoRecovery *fleet.AutoOut `json:"autoRecovery,omitempty"`
}

// CoordinatorView is one coordinator in a ClusterView.
type CoordinatorView struct {
	Name     string        `json:"name"`
	URL      string        `json:"url"`
	Role     string        `json:"role"`
	Primary  bool          `json:"takesNewQueries"`
	Health   health.Status `json:"health"`
	HealthIs string        `json:"state"`
}

// Clusters lists every cluster with its state, health and load.
func (m *Manager) Clusters() []ClusterView {
	f := m.Fleet()
	out := make([]ClusterView, 0, len(f.Clusters))
	for i := range f.Clusters {
		out = append(out, m.view(&f.Clusters[i]))
	}
	return out
}

// Cluster shows one cluster.
func (m *Manager) Cluster(name string) (ClusterView, error) {
	c, ok := m.Fleet().Cluster(name)
	if !ok {
		return ClusterView{}, errorf(http.StatusNotFound, "no cluster %s", name)
	}
	return m.view(c), nil
}

func (m *Manager) view(c *fleet.Cluster) ClusterView {
	v := ClusterView{Name: c.Name, Group: c.Group, State: c.State, Weight: c.Weight, Failback: c.Failback, Drain: c.Drain, Health: "unknown",
		AutoRecovery: c.Auto}
	healthy, starting, checked := 0, 0, 0
	v.Load.Known = true
	for _, co := range c.Coordinators {
		role := config.RoleActive
		if co.Standby {
			role = config.RoleStandby
		}
		st, _ := m.o.Health.Status(fleet.Key(c.Name, co.Name))
		v.Coordinators = append(v.Coordinators, CoordinatorView{Name: co.Name, URL: co.URL, Role: role,
			Primary: !c.IsStandby(co), Health: st, HealthIs: st.State.String()})
		switch st.State {
		case health.Healthy:
			healthy++
		case health.Unhealthy:
			if st.Starting {
				starting++
			}
		}
		if st.State != health.Unknown {
			checked++
		}
		v.Load.Known = v.Load.Known && st.Load.Known
		v.Load.Running += st.Load.Running
		v.Load.Queued += st.Load.Queued
		v.Load.Blocked += st.Load.Blocked
		v.Load.ActiveWorkers += st.Load.ActiveWorkers
	}
	switch {
	case healthy > 0:
		v.Health = "healthy"
	case starting > 0:
		v.Health = "starting"
	case checked > 0:
		v.Health = "unhealthy"
	}
	return v
}

// Groups lists the routing groups with their clusters.
func (m *Manager) Groups() []map[string]any {
	f := m.Fleet()
	var out []map[string]any
	for _, g := range f.Groups {
		var names []string
		for _, c := range f.ClustersIn(g.Name) {
			names = append(names, c.Name)
		}
		out = append(out, map[string]any{"name": g.Name, "strategy": g.Strategy, "default": g.Name == f.DefaultGroup, "clusters": names, "fallback": g.Fallback})
	}
	return out
}

// String names the operation error for logs.
func (e *Error) String() string { return fmt.Sprintf("%d %s", e.Status, e.Message) }

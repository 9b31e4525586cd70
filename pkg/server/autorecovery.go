package server

import (
	"context"
	"net/http"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/admin"
	"github.com/switchyard-gw/switchyard/pkg/autorecovery"
	"github.com/switchyard-gw/switchyard/pkg/config"
	"github.com/switchyard-gw/switchyard/pkg/lease"
	"github.com/switchyard-gw/switchyard/pkg/store"
)

// buildAutoRecovery makes auto-recovery when it is enabled: every replica
// records restarts and samples the coordinators' counters, the holder of
// the "autorecovery" lease acts.
func (s *Server) buildAutoRecovery() {
	cfg := s.cfg.AutoRecovery
	if !cfg.Enabled {
		return
	}
	log := s.log.With("component", "autorecovery")
	m := autorecovery.NewMetrics(s.reg, s.router.Fleet)
	s.recoverer = autorecovery.New(autorecovery.Options{
		Config: cfg, Fleet: s.router.Fleet, Status: s.poller.Status, Up: s.router.ClusterUp,
		Clusters: s.fleet, Audit: s.store.Audit, Notifier: autorecovery.NewNotifier(cfg.Notify, log, m),
		Replica: lease.DefaultHolder(), Metrics: m, Logger: log,
	})
	s.arLease = lease.New(lease.Options{Leases: s.store.Leases, Name: "autorecovery", TTL: s.cfg.ControlPlane.LeaseTTL, Logger: log})
}

// autoRecoveryComponents sample on every replica and act on the lease
// holder.
func (s *Server) autoRecoveryComponents() []component {
	if s.recoverer == nil {
		return nil
	}
	return []component{
		{"autorecovery-sample", loop(func(ctx context.Context) {
			t := time.NewTicker(s.cfg.AutoRecovery.Interval)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					s.recoverer.Sample()
				}
			}
		})},
		{"autorecovery", loop(func(ctx context.Context) {
			s.arLease.Run(ctx, func(ctx context.Context, _ int64) { s.recoverer.Run(ctx) })
		})},
	}
}

// autoRecoveryView is GET /api/v1/autorecovery: the settings, the
// clusters held out and the recent actions (from the shared audit log:
// whichever replica took them).
func (s *Server) autoRecoveryView() admin.AutoRecoveryView {
	return func(r *http.Request) (any, error) {
		type out struct {
			Cluster string    `json:"cluster"`
			Group   string    `json:"group"`
			Reason  string    `json:"reason"`
			Since   time.Time `json:"since"`
		}
		cfg := s.cfg.AutoRecovery
		view := struct {
			Enabled  bool               `json:"enabled"`
			Settings map[string]any     `json:"settings"`
			Out      []out              `json:"clustersOut"`
			Actions  []store.AuditEntry `json:"actions"`
		}{Enabled: cfg.Enabled, Settings: settings(cfg), Out: []out{}, Actions: []store.AuditEntry{}}
		for _, c := range autorecovery.Out(s.router.Fleet()) {
			view.Out = append(view.Out, out{Cluster: c.Name, Group: c.Group, Reason: c.Auto.Reason, Since: c.Auto.Since})
		}
		es, err := s.store.Audit.Recent(r.Context(), 1000)
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			if e.Who == "auto-recovery" && len(view.Actions) < 100 {
				view.Actions = append(view.Actions, e)
			}
		}
		return view, nil
	}
}

// settings shows the configuration as the file spells it.
func settings(c config.AutoRecovery) map[string]any {
	return map[string]any{
		"interval":        c.Interval.String(),
		"restartLoop":     map[string]any{"restarts": c.RestartLoop.Restarts, "window": c.RestartLoop.Window.String()},
		"errorRate":       map[string]any{"threshold": c.ErrorRate.Threshold, "minQueries": c.ErrorRate.MinQueries, "window": c.ErrorRate.Window.String()},
		"stableFor":       c.StableFor.String(),
		"keepLastCluster": c.KeepLastCluster == nil || *c.KeepLastCluster,
		"notify":          map[string]any{"configured": c.Notify.URL != "", "format": c.Notify.Format},
	}
}

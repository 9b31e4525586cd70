package server

import (
	"context"
	"fmt"
	"net"

	"github.com/switchyard-gw/switchyard/pkg/config"
	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/health"
	"github.com/switchyard-gw/switchyard/pkg/xds"
)

// publishChanges republishes the configuration when the fleet changes,
// debounced: a burst of changes gives one push.
func (s *Server) publishChanges(ctx context.Context) {
	for s.changes.wait(ctx) {
		f := s.fleet.Fleet()
		s.poller.SetTargets(ctx, healthTargets(f))
		if err := s.publish(f); err != nil {
			s.log.Error("publishing the changed fleet failed", "error", err)
		}
	}
}

// publish translates the fleet and hands the snapshot to every Envoy.
func (s *Server) publish(f *fleet.Fleet) error {
	res, err := xds.Translate(f, s.xdsOptions())
	if res == nil {
		return fmt.Errorf("translating the fleet: %w", err)
	}
	if err != nil {
		s.log.Error("some clusters could not be translated; serving the rest", "error", err)
	}
	v, err := s.xds.Update(context.Background(), res)
	if err != nil {
		return fmt.Errorf("publishing configuration: %w", err)
	}
	s.log.Info("configuration published", "version", v, "clusters", len(f.Clusters))
	return nil
}

func (s *Server) xdsOptions() xds.Options {
	c := s.cfg
	tlsOpts, jwt := s.edge.options()
	return xds.Options{
		TLS: tlsOpts, JWT: jwt, StripCredentials: s.forwardUser(), ControlPlaneTLS: c.ControlPlane.GRPCTLS != nil,
		ListenerAddress: c.Listener.Address,
		MaxBodyBytes:    uint32(c.Listener.MaxBodyBytes),
		RequestTimeout:  c.Listener.RequestTimeout,
		ExtProcTargets:  c.ControlPlane.ExtProcTargets,
		ExtProcTimeout:  c.ControlPlane.ExtProcTimeout,
		ExtAuthz:        c.Policy.Dir != "" || s.identity.Verifies(),
		Resubmit:        c.Routing.Resubmission.On(),
		ResubmitTargets: c.ControlPlane.ResubmitTargets,
		QueueTargets:    c.ControlPlane.QueueTargets,
		Health: xds.HealthCheck{
			Interval: c.Health.Interval, Timeout: c.Health.Timeout,
			Rise: uint32(c.Health.RiseThreshold), Fall: uint32(c.Health.FallThreshold),
		},
	}
}

func healthTargets(f *fleet.Fleet) []health.Target {
	var out []health.Target
	for _, c := range f.Clusters {
		for _, co := range c.Coordinators {
			out = append(out, health.Target{
				Key:     fleet.Key(c.Name, co.Name),
				BaseURL: fmt.Sprintf("%s://%s", co.Scheme, net.JoinHostPort(co.Host, fmt.Sprint(co.Port))),
			})
		}
	}
	return out
}

// forwardUser: clusters get the verified user in X-Trino-User and never
// the client's credentials.
func (s *Server) forwardUser() bool {
	a := s.cfg.Listener.Authentication
	return a.Verifies() && a.Forward == config.ForwardUser
}

package harness

import (
	"context"
	"fmt"
)

// HA is a highly available gateway: control-plane replicas sharing one
// Redis, each listing every replica's ext_proc address, and Envoys that
// are each bootstrapped with every replica's xDS address. The Envoys share
// the client listener (SO_REUSEPORT), as Envoys behind one address do.
type HA struct {
	Replicas     []*Switchyard
	Envoys       []*Envoy
	ListenerAddr string
}

// URL is the clients' address of the gateway.
func (h *HA) URL() string { return "http://" + h.ListenerAddr }

// XDSAddrs are the replicas' xDS addresses.
func (h *HA) XDSAddrs() []string {
	var out []string
	for _, r := range h.Replicas {
		out = append(out, r.XDSAddr)
	}
	return out
}

// Procs are the processes of the gateway (replicas, then Envoys).
func (h *HA) Procs() []*Proc {
	var out []*Proc
	for _, r := range h.Replicas {
		out = append(out, r.Proc)
	}
	for _, en := range h.Envoys {
		out = append(out, en.Proc)
	}
	return out
}

// StartGatewayHA starts `replicas` control planes on the store at
// redisAddr and `envoys` Envoys (hot-restartable), named name-cpN and
// name-envoyN. Every port is allocated up front, so each replica's
// configuration lists every replica's ext_proc address
// (controlPlane.extProcTargets), resubmission address
// (controlPlane.resubmitTargets) and queue address
// (controlPlane.queueTargets), and each Envoy's bootstrap every xDS
// address. It returns once every replica is ready and every Envoy is live
// with the listener.
func (e *Env) StartGatewayHA(ctx context.Context, name string, cfg GatewayConfig, replicas, envoys int, redisAddr string) (*HA, error) {
	if replicas < 1 || envoys < 1 {
		return nil, fmt.Errorf("an HA gateway needs replicas and Envoys (asked for %d and %d)", replicas, envoys)
	}
	if redisAddr == "" {
		return nil, fmt.Errorf("replicas share state through Redis: redisAddr is required")
	}
	h := &HA{ListenerAddr: cfg.ListenerAddr}
	var err error
	if h.ListenerAddr == "" {
		if h.ListenerAddr, err = FreeAddr(); err != nil {
			return nil, err
		}
	}
	type addrs struct{ admin, xds, extProc, resubmit, queue string }
	planned := make([]addrs, replicas)
	var targets, resubmits, queues []string
	for i := range planned {
		for _, a := range []*string{&planned[i].admin, &planned[i].xds, &planned[i].extProc, &planned[i].resubmit, &planned[i].queue} {
			if *a, err = FreeAddr(); err != nil {
				return nil, err
			}
		}
		targets = append(targets, planned[i].extProc)
		resubmits = append(resubmits, planned[i].resubmit)
		queues = append(queues, planned[i].queue)
	}
	cfg.ListenerAddr, cfg.RedisAddr, cfg.ExtProcTargets, cfg.ResubmitTargets, cfg.QueueTargets = h.ListenerAddr, redisAddr, targets, resubmits, queues
	for i, a := range planned {
		c := cfg
		c.AdminAddr, c.XDSAddr, c.ExtProcAddr, c.ResubmitAddr, c.QueueAddr = a.admin, a.xds, a.extProc, a.resubmit, a.queue
		s, err := e.StartSwitchyard(ctx, fmt.Sprintf("%s-cp%d", name, i+1), c)
		if err != nil {
			return h, err
		}
		h.Replicas = append(h.Replicas, s)
	}
	for i := range envoys {
		en, err := e.StartEnvoyWith(ctx, EnvoyOptions{
			Name: fmt.Sprintf("%s-envoy%d", name, i+1), XDSAddrs: h.XDSAddrs(), ListenerAddr: h.ListenerAddr, HotRestart: true,
		})
		if err != nil {
			return h, err
		}
		h.Envoys = append(h.Envoys, en)
	}
	return h, nil
}

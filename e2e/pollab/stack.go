package pollab

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/switchyard-gw/switchyard/e2e/harness"
)

// stack is what e2e/bench starts for its switchyard-ungoverned target: the
// simulator (or a real Trino), Redis, the control plane with the shipped
// policy minus governance, and an Envoy configured over xDS.
type stack struct {
	// backend is the coordinator's URL: the simulator's or Trino's.
	backend string
	redis   *harness.Redis
	cp      *harness.Switchyard
	envoy   *harness.Envoy
}

// Names of the xDS resources of the one-cluster fleet (cluster "c0", one
// coordinator) the experiment uses.
const (
	fleetCluster = "c0"
	// pollPrefix is the path prefix of a poll routed by path.
	pollPrefix = "/_sy/c0/0"
)

// startStack starts the processes; env.StopAll stops them.
func startStack(ctx context.Context, env *harness.Env, plan Plan) (*stack, error) {
	s := &stack{}
	var err error
	if err := s.startBackend(ctx, env, plan); err != nil {
		return nil, err
	}
	// As in the bench: the backend posts its queries' events; the relay
	// drops them (nothing is governed).
	relay, err := env.Events()
	if err != nil {
		return nil, err
	}
	relay.SetDrop(true)
	if s.redis, err = env.StartRedis(ctx, "pollab-redis"); err != nil {
		return nil, err
	}
	policyDir, err := ungovernedPolicies(env, "pollab-policies")
	if err != nil {
		return nil, err
	}
	cfg := harness.GatewayConfig{
		RedisAddr: s.redis.Addr, DefaultGroup: "adhoc", Groups: []string{"adhoc"},
		LogLevel: "info",
		Extra:    map[string]any{"policy": map[string]any{"dir": policyDir}},
		Clusters: []harness.ClusterSpec{{
			Name: fleetCluster, Group: "adhoc",
			Coordinators: []harness.CoordinatorSpec{{URL: s.backend}},
		}},
	}
	if s.cp, err = env.StartSwitchyard(ctx, "pollab-switchyard", cfg); err != nil {
		return nil, err
	}
	env.DetachEvents(s.cp)
	if s.envoy, err = env.StartEnvoy(ctx, "pollab-envoy-xds", s.cp.XDSAddr, s.cp.ListenerAddr); err != nil {
		return nil, err
	}
	if err := s.envoy.WaitHealthy(ctx, "trino_"+fleetCluster); err != nil {
		return nil, err
	}
	return s, nil
}

// startBackend starts the simulator, or with plan.Trino a real Trino
// (once it is ready).
func (s *stack) startBackend(ctx context.Context, env *harness.Env, plan Plan) error {
	if plan.Trino {
		tr, err := env.StartTrino("pollab-trino", harness.TrinoOptions{})
		if err != nil {
			return err
		}
		if err := tr.WaitReady(ctx, 4*time.Minute); err != nil {
			return fmt.Errorf("trino: %w", err)
		}
		s.backend = tr.URL
		return nil
	}
	simOpts := plan.Sim
	simOpts.Events = true
	sim, err := env.StartSim(ctx, "pollab-sim", simOpts)
	if err != nil {
		return err
	}
	s.backend = sim.URL
	return nil
}

// configDump fetches Envoy's configuration, endpoints included.
func configDump(en *harness.Envoy) ([]byte, error) {
	body, err := en.Admin("/config_dump?include_eds")
	if err != nil {
		return nil, fmt.Errorf("config_dump: %w", err)
	}
	return []byte(body), nil
}

// ungovernedPolicies writes the shipped policies without governance into a
// directory of the Env, as e2e/bench does for switchyard-ungoverned: no
// governance*.rego, and data.json without switchyard.governance.
func ungovernedPolicies(env *harness.Env, name string) (string, error) {
	dst := filepath.Join(env.Dir, name)
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return "", err
	}
	src := filepath.Join(env.Root, "policies")
	entries, err := os.ReadDir(src)
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "governance") || e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return "", err
		}
		if e.Name() == "data.json" {
			var doc map[string]map[string]any
			if err := json.Unmarshal(b, &doc); err != nil {
				return "", fmt.Errorf("policies/data.json: %w", err)
			}
			if _, ok := doc["switchyard"]["governance"]; !ok {
				return "", fmt.Errorf("policies/data.json has no switchyard.governance")
			}
			delete(doc["switchyard"], "governance")
			if b, err = json.Marshal(doc); err != nil {
				return "", err
			}
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			return "", err
		}
	}
	return dst, nil
}

package harness

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/switchyard-gw/switchyard/pkg/events"
)

// GatewayConfig is the part of a switchyard configuration tests vary; the
// harness fills in free loopback ports for the addresses left empty.
type GatewayConfig struct {
	ListenerAddr string // Envoy's client listener
	AdminAddr    string
	XDSAddr      string
	ExtProcAddr  string
	ResubmitAddr string // transparent resubmission (HTTP)
	QueueAddr    string // the gateway's queue (HTTP)
	RedisAddr    string // empty: in-memory store
	DefaultGroup string
	Groups       []string
	// Fallbacks maps a group to its fallback group.
	Fallbacks map[string]string
	Clusters  []ClusterSpec
	// Extra is merged into the top level of the YAML (e.g. "health").
	Extra map[string]any
	// GRPCTLS is controlPlane.grpcTLS (certFile, keyFile, clientCAFile).
	GRPCTLS map[string]string
	// ListenerExtra is merged into the listener section (tls,
	// authentication).
	ListenerExtra map[string]any
	// LogLevel of the control plane (default debug).
	LogLevel string
	// Pprof serves /debug/pprof/ on the admin address.
	Pprof bool
	// ExtProcTargets lists the ext_proc addresses Envoys reach (every
	// replica's); empty: the replica's own.
	ExtProcTargets []string
	// ResubmitTargets lists every replica's resubmission address, likewise.
	ResubmitTargets []string
	// QueueTargets lists every replica's queue address, likewise.
	QueueTargets []string
	// EventSecrets are the events.secrets entries (cluster -> secret);
	// StartSwitchyard adds those of the Trinos the Env started that the
	// clusters use, unless Extra sets "events".
	EventSecrets []EventSecretSpec
}

// EventSecretSpec is one cluster's event listener secret.
type EventSecretSpec struct{ Cluster, Secret string }

// ClusterSpec is one cluster of a GatewayConfig.
type ClusterSpec struct {
	Name         string
	Group        string
	State        string // initial state: active (default) or inactive
	Failback     *bool
	Tags         []string
	Weight       int // 0: the default
	Coordinators []CoordinatorSpec
}

// CoordinatorSpec is one coordinator of a ClusterSpec.
type CoordinatorSpec struct {
	Name string
	URL  string
	Role string
}

// Switchyard is a running control plane.
type Switchyard struct {
	*Proc
	ConfigPath   string
	ListenerAddr string
	AdminAddr    string
	XDSAddr      string
	ExtProcAddr  string
	ResubmitAddr string
	QueueAddr    string
	level        string
	relayed      string // the ingest URL registered with the Env's event relay
}

// YAML renders the configuration with the given control-plane addresses.
func (c GatewayConfig) YAML(admin, xdsAddr, extProc string) ([]byte, error) {
	cp := map[string]any{"adminAddress": admin, "xdsAddress": xdsAddr, "extProcAddress": extProc, "pprof": c.Pprof}
	if len(c.ExtProcTargets) > 0 {
		cp["extProcTargets"] = c.ExtProcTargets
	}
	if c.GRPCTLS != nil {
		cp["grpcTLS"] = c.GRPCTLS
	}
	if c.ResubmitAddr != "" {
		cp["resubmitAddress"] = c.ResubmitAddr
	}
	if len(c.ResubmitTargets) > 0 {
		cp["resubmitTargets"] = c.ResubmitTargets
	}
	if c.QueueAddr != "" {
		cp["queueAddress"] = c.QueueAddr
	}
	if len(c.QueueTargets) > 0 {
		cp["queueTargets"] = c.QueueTargets
	}
	listener := map[string]any{"address": c.ListenerAddr}
	for k, v := range c.ListenerExtra {
		listener[k] = v
	}
	doc := map[string]any{
		"listener":     listener,
		"controlPlane": cp,
		"routing":      map[string]any{"defaultGroup": c.DefaultGroup},
		"health":       map[string]any{"interval": "1s", "timeout": "1s", "fallThreshold": 2, "riseThreshold": 2},
	}
	if c.RedisAddr != "" {
		doc["store"] = map[string]any{"type": "redis", "redis": map[string]any{"address": c.RedisAddr}}
	}
	var groups []map[string]any
	for _, g := range c.Groups {
		gr := map[string]any{"name": g}
		if fb := c.Fallbacks[g]; fb != "" {
			gr["fallback"] = fb
		}
		groups = append(groups, gr)
	}
	doc["groups"] = groups
	var clusters []map[string]any
	for _, cl := range c.Clusters {
		var cos []map[string]any
		for _, co := range cl.Coordinators {
			m := map[string]any{"url": co.URL}
			if co.Name != "" {
				m["name"] = co.Name
			}
			if co.Role != "" {
				m["role"] = co.Role
			}
			cos = append(cos, m)
		}
		m := map[string]any{"name": cl.Name, "group": cl.Group, "coordinators": cos}
		if cl.State != "" {
			m["state"] = cl.State
		}
		if cl.Failback != nil {
			m["failback"] = *cl.Failback
		}
		if len(cl.Tags) > 0 {
			m["tags"] = cl.Tags
		}
		if cl.Weight > 0 {
			m["weight"] = cl.Weight
		}
		clusters = append(clusters, m)
	}
	doc["clusters"] = clusters
	if len(c.EventSecrets) > 0 {
		var secrets []map[string]any
		for _, es := range c.EventSecrets {
			secrets = append(secrets, map[string]any{"cluster": es.Cluster, "secret": es.Secret})
		}
		doc["events"] = map[string]any{"secrets": secrets}
	}
	for k, v := range c.Extra {
		doc[k] = v
	}
	return yaml.Marshal(doc)
}

// StartSwitchyard writes the configuration and starts `switchyard serve`,
// then waits until /readyz answers 200.
func (e *Env) StartSwitchyard(ctx context.Context, name string, c GatewayConfig) (*Switchyard, error) {
	var err error
	if c.ListenerAddr == "" {
		if c.ListenerAddr, err = FreeAddr(); err != nil {
			return nil, err
		}
	}
	s := &Switchyard{ListenerAddr: c.ListenerAddr, AdminAddr: c.AdminAddr, XDSAddr: c.XDSAddr, ExtProcAddr: c.ExtProcAddr, ResubmitAddr: c.ResubmitAddr, QueueAddr: c.QueueAddr}
	for _, a := range []*string{&s.AdminAddr, &s.XDSAddr, &s.ExtProcAddr, &s.ResubmitAddr, &s.QueueAddr} {
		if *a != "" {
			continue
		}
		if *a, err = FreeAddr(); err != nil {
			return nil, err
		}
	}
	c.ResubmitAddr, c.QueueAddr = s.ResubmitAddr, s.QueueAddr
	if _, set := c.Extra["events"]; !set {
		c.EventSecrets = append(c.EventSecrets, e.eventSecrets(c.Clusters, c.EventSecrets)...)
	}
	b, err := c.YAML(s.AdminAddr, s.XDSAddr, s.ExtProcAddr)
	if err != nil {
		return nil, err
	}
	s.ConfigPath = filepath.Join(e.Dir, name+".yaml")
	if err := os.WriteFile(s.ConfigPath, b, 0o644); err != nil {
		return nil, err
	}
	s.level = c.LogLevel
	if s.level == "" {
		s.level = "debug"
	}
	return s, e.runSwitchyard(ctx, name, s)
}

func (e *Env) runSwitchyard(ctx context.Context, name string, s *Switchyard) error {
	if err := e.launchSwitchyard(name, s); err != nil {
		return err
	}
	if err := s.WaitReady(ctx, 30*time.Second); err != nil {
		s.Stop()
		return err
	}
	// Trino's event listener reaches the control plane through the Env's
	// relay (a dead control plane is skipped there).
	relay, err := e.Events()
	if err != nil {
		return err
	}
	s.relayed = "http://" + s.AdminAddr + events.Path
	relay.Add(s.relayed)
	return nil
}

// DetachEvents stops relaying Trino's events to s (a control plane that
// must not see the fleet's queries, e.g. one measured without governance
// beside one with it).
func (e *Env) DetachEvents(s *Switchyard) {
	if relay, err := e.Events(); err == nil && s.relayed != "" {
		relay.Remove(s.relayed)
	}
}

// eventSecrets are the secrets of the Trinos (and simulators) the Env started that serve
// as coordinators of the clusters (each secret once, for the first
// cluster that uses its Trino), skipping those already given.
func (e *Env) eventSecrets(clusters []ClusterSpec, given []EventSecretSpec) []EventSecretSpec {
	e.mu.Lock()
	defer e.mu.Unlock()
	seen := map[string]bool{}
	for _, g := range given {
		seen[g.Secret] = true
	}
	var out []EventSecretSpec
	for _, c := range clusters {
		for _, co := range c.Coordinators {
			secret, ok := e.secretsByURL[strings.TrimSuffix(co.URL, "/")]
			if !ok || seen[secret] {
				continue
			}
			seen[secret] = true
			out = append(out, EventSecretSpec{Cluster: c.Name, Secret: secret})
		}
	}
	return out
}

func (e *Env) launchSwitchyard(name string, s *Switchyard) error {
	p, err := e.Start(name, exec.Command(e.Bin, "serve", "--config", s.ConfigPath, "--log-level", s.level))
	if err != nil {
		return err
	}
	s.Proc = p
	return nil
}

// LaunchSwitchyard starts a stopped control plane again, like
// RestartSwitchyard, but returns at once: the caller watches its first
// moments (its ports open before it is ready).
func (e *Env) LaunchSwitchyard(s *Switchyard) (*Switchyard, error) {
	if !s.Exited() {
		return nil, fmt.Errorf("%s is still running", s.Name)
	}
	n := *s
	return &n, e.launchSwitchyard(s.Name, &n)
}

// RestartSwitchyard starts a stopped control plane again with the same
// configuration file and addresses (its log continues in the same file).
func (e *Env) RestartSwitchyard(ctx context.Context, s *Switchyard) (*Switchyard, error) {
	if !s.Exited() {
		return nil, fmt.Errorf("%s is still running", s.Name)
	}
	n := *s
	return &n, e.runSwitchyard(ctx, s.Name, &n)
}

// WaitReady polls /readyz.
func (s *Switchyard) WaitReady(ctx context.Context, timeout time.Duration) error {
	return Poll(ctx, s.Name+" /readyz", timeout, 50*time.Millisecond, func() error {
		if s.Exited() {
			return fmt.Errorf("switchyard exited:\n%s", s.Tail(30))
		}
		resp, err := http.Get("http://" + s.AdminAddr + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/readyz: HTTP %d", resp.StatusCode)
		}
		return nil
	})
}

package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Envoy is a running Envoy that takes its configuration from switchyard.
type Envoy struct {
	*Proc
	AdminAddr string
	opts      EnvoyOptions
	bootstrap string // path of the bootstrap file
	epoch     int    // hot restart epoch of this process
	baseID    string // hot restart base ID ("" without hot restart)
}

// EnvoyOptions describe an Envoy of the harness.
type EnvoyOptions struct {
	Name string
	// XDSAddrs are the control-plane replicas' xDS addresses, all in the
	// bootstrap: the ADS stream follows any replica that is up.
	XDSAddrs []string
	// ListenerAddr is the client listener (from xDS) to wait for.
	ListenerAddr string
	// HotRestart starts Envoy with a dynamic base ID, so HotRestartEnvoy
	// can replace it; without it Envoy runs with --disable-hot-restart.
	HotRestart bool
	// DrainTime is how long a hot-restarted parent drains (default 2 s);
	// it exits ParentShutdown after the child started (default 4 s).
	DrainTime, ParentShutdown time.Duration
	// TLSCert, TLSKey and TLSCA: mutual TLS with the control plane
	// (switchyard bootstrap --tls-*).
	TLSCert, TLSKey, TLSCA string
}

// StartEnvoy writes a bootstrap with `switchyard bootstrap` and starts Envoy.
// It returns once Envoy is initialised (admin /ready says LIVE) and the
// listener at listenerAddr accepts connections. xdsAddr may list several
// replicas, comma separated.
func (e *Env) StartEnvoy(ctx context.Context, name, xdsAddr, listenerAddr string) (*Envoy, error) {
	return e.StartEnvoyWith(ctx, EnvoyOptions{Name: name, XDSAddrs: strings.Split(xdsAddr, ","), ListenerAddr: listenerAddr})
}

// StartEnvoyWith is StartEnvoy with every option.
func (e *Env) StartEnvoyWith(ctx context.Context, o EnvoyOptions) (*Envoy, error) {
	if o.DrainTime == 0 {
		o.DrainTime = 2 * time.Second
	}
	if o.ParentShutdown == 0 {
		o.ParentShutdown = 2 * o.DrainTime
	}
	admin, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	args := []string{"bootstrap", "--node-id", o.Name, "--xds", strings.Join(o.XDSAddrs, ","), "--admin", admin}
	if o.TLSCert != "" {
		args = append(args, "--tls-cert", o.TLSCert, "--tls-key", o.TLSKey, "--tls-ca", o.TLSCA)
	}
	out, err := exec.Command(e.Bin, args...).Output()
	if err != nil {
		return nil, fmt.Errorf("switchyard bootstrap: %w", err)
	}
	path := filepath.Join(e.Dir, o.Name+"-bootstrap.yaml")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		return nil, err
	}
	en := &Envoy{AdminAddr: admin, opts: o, bootstrap: path}
	return en, e.runEnvoy(ctx, en)
}

// baseIDPath is where a hot-restartable Envoy writes its base ID.
func (en *Envoy) baseIDPath() string { return en.bootstrap + ".base-id" }

// runEnvoy starts the process of en (its epoch and base ID set) and waits
// until it is live with its listener.
func (e *Env) runEnvoy(ctx context.Context, en *Envoy) error {
	o := en.opts
	args := []string{"-c", en.bootstrap, "-l", "info", "--service-node", o.Name, "--service-cluster", "switchyard"}
	switch {
	case !o.HotRestart:
		args = append(args, "--disable-hot-restart")
	case en.epoch == 0:
		_ = os.Remove(en.baseIDPath())
		args = append(args, "--use-dynamic-base-id", "--base-id-path", en.baseIDPath())
	default:
		args = append(args, "--base-id", en.baseID, "--restart-epoch", strconv.Itoa(en.epoch))
	}
	if o.HotRestart {
		args = append(args, "--drain-time-s", strconv.Itoa(int(o.DrainTime.Seconds())),
			"--parent-shutdown-time-s", strconv.Itoa(int(o.ParentShutdown.Seconds())))
	}
	name := o.Name
	if en.epoch > 0 {
		name = fmt.Sprintf("%s-epoch%d", o.Name, en.epoch)
	}
	p, err := e.Start(name, exec.Command(e.EnvoyPath(), args...))
	if err != nil {
		return err
	}
	en.Proc = p
	err = Poll(ctx, name+" to be live with its listener", 30*time.Second, 50*time.Millisecond, func() error {
		if p.Exited() {
			return fmt.Errorf("envoy exited:\n%s", p.Tail(30))
		}
		if err := en.checkEpoch(); err != nil {
			return err
		}
		body, err := en.Admin("/ready")
		if err != nil {
			return err
		}
		if strings.TrimSpace(body) != "LIVE" {
			return fmt.Errorf("/ready says %q", body)
		}
		if o.ListenerAddr == "" {
			return nil
		}
		c, err := net.DialTimeout("tcp", o.ListenerAddr, time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	})
	if err != nil {
		p.Stop()
		return err
	}
	if o.HotRestart && en.epoch == 0 {
		b, err := os.ReadFile(en.baseIDPath())
		if err != nil {
			p.Stop()
			return fmt.Errorf("%s base ID: %w", name, err)
		}
		en.baseID = strings.TrimSpace(string(b))
	}
	return nil
}

// checkEpoch fails while the admin address is still answered by another
// epoch (a hot restart's parent hands it over to the child).
func (en *Envoy) checkEpoch() error {
	if !en.opts.HotRestart {
		return nil
	}
	body, err := en.Admin("/server_info")
	if err != nil {
		return err
	}
	var info struct {
		CommandLineOptions struct {
			RestartEpoch int `json:"restart_epoch"`
		} `json:"command_line_options"`
	}
	if err := json.Unmarshal([]byte(body), &info); err != nil {
		return fmt.Errorf("/server_info: %w", err)
	}
	if info.CommandLineOptions.RestartEpoch != en.epoch {
		return fmt.Errorf("admin answered by epoch %d, want %d", info.CommandLineOptions.RestartEpoch, en.epoch)
	}
	return nil
}

// RestartEnvoy starts an Envoy that has exited (killed, say) again on the
// same admin address, bootstrap and listener; its configuration comes back
// from xDS. It returns once the new process is live with its listener.
func (e *Env) RestartEnvoy(ctx context.Context, en *Envoy) (*Envoy, error) {
	if !en.Exited() {
		return nil, fmt.Errorf("%s is still running", en.Name)
	}
	n := &Envoy{AdminAddr: en.AdminAddr, opts: en.opts, bootstrap: en.bootstrap}
	return n, e.runEnvoy(ctx, n)
}

// HotRestartEnvoy replaces a running Envoy (started with HotRestart) by a
// new process of the next restart epoch: the child takes the listening
// sockets over, the parent drains its connections for DrainTime and exits.
// It returns the child once it is live; Parent is the old process.
func (e *Env) HotRestartEnvoy(ctx context.Context, en *Envoy) (*Envoy, error) {
	if !en.opts.HotRestart || en.baseID == "" {
		return nil, fmt.Errorf("%s was not started for hot restart", en.Name)
	}
	if en.Exited() {
		return nil, fmt.Errorf("%s has exited", en.Name)
	}
	n := &Envoy{AdminAddr: en.AdminAddr, opts: en.opts, bootstrap: en.bootstrap, epoch: en.epoch + 1, baseID: en.baseID}
	return n, e.runEnvoy(ctx, n)
}

// Epoch is the hot restart epoch of this process.
func (en *Envoy) Epoch() int { return en.epoch }

// Admin GETs a path of the Envoy admin interface.
func (en *Envoy) Admin(path string) (string, error) {
	resp, err := http.Get("http://" + en.AdminAddr + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("envoy admin %s: HTTP %d", path, resp.StatusCode)
	}
	return string(b), nil
}

// HealthyHosts counts the hosts Envoy considers healthy in a cluster.
func (en *Envoy) HealthyHosts(cluster string) (int, error) {
	body, err := en.Admin("/clusters?format=json")
	if err != nil {
		return 0, err
	}
	var doc struct {
		ClusterStatuses []struct {
			Name         string `json:"name"`
			HostStatuses []struct {
				HealthStatus map[string]any `json:"health_status"`
			} `json:"host_statuses"`
		} `json:"cluster_statuses"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		return 0, err
	}
	for _, c := range doc.ClusterStatuses {
		if c.Name != cluster {
			continue
		}
		n := 0
		for _, h := range c.HostStatuses {
			if s, _ := h.HealthStatus["eds_health_status"].(string); s == "HEALTHY" && len(h.HealthStatus) == 1 {
				n++
			}
		}
		return n, nil
	}
	return 0, fmt.Errorf("envoy has no cluster %q", cluster)
}

// WaitHealthy waits until Envoy sees at least one healthy host in each
// cluster (its own active health checks have passed).
func (en *Envoy) WaitHealthy(ctx context.Context, clusters ...string) error {
	return Poll(ctx, en.Name+" health checks", 30*time.Second, 100*time.Millisecond, func() error {
		for _, c := range clusters {
			n, err := en.HealthyHosts(c)
			if err != nil {
				return err
			}
			if n == 0 {
				return fmt.Errorf("no healthy host in %s", c)
			}
		}
		return nil
	})
}

// Stats returns Envoy's counters and gauges whose names match the regular
// expression filter (admin /stats?filter=).
func (en *Envoy) Stats(filter string) (map[string]int64, error) {
	body, err := en.Admin("/stats?filter=" + url.QueryEscape(filter))
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, line := range strings.Split(body, "\n") {
		name, v, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			continue // a histogram
		}
		out[name] = n
	}
	return out, nil
}

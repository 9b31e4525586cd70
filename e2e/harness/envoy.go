package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Envoy is a running Envoy that takes its configuration from switchyard.
type Envoy struct {
	*Proc
	AdminAddr string
}

// StartEnvoy writes a bootstrap with `switchyard bootstrap` and starts Envoy.
// It returns once Envoy is initialised (admin /ready says LIVE) and the
// listener at listenerAddr accepts connections.
func (e *Env) StartEnvoy(ctx context.Context, name, xdsAddr, listenerAddr string) (*Envoy, error) {
	admin, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	out, err := exec.Command(e.Bin, "bootstrap", "--node-id", name, "--xds", xdsAddr, "--admin", admin).Output()
	if err != nil {
		return nil, fmt.Errorf("switchyard bootstrap: %w", err)
	}
	path := filepath.Join(e.Dir, name+"-bootstrap.yaml")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(e.EnvoyPath(), "-c", path, "--disable-hot-restart", "-l", "info",
		"--service-node", name, "--service-cluster", "switchyard")
	p, err := e.Start(name, cmd)
	if err != nil {
		return nil, err
	}
	en := &Envoy{Proc: p, AdminAddr: admin}
	err = Poll(ctx, name+" to be live with its listener", 30*time.Second, 50*time.Millisecond, func() error {
		if p.Exited() {
			return fmt.Errorf("envoy exited:\n%s", p.Tail(30))
		}
		body, err := en.Admin("/ready")
		if err != nil {
			return err
		}
		if strings.TrimSpace(body) != "LIVE" {
			return fmt.Errorf("/ready says %q", body)
		}
		c, err := net.DialTimeout("tcp", listenerAddr, time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	})
	if err != nil {
		p.Stop()
		return nil, err
	}
	return en, nil
}

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

package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// Prometheus is a running Prometheus server (Debian's prometheus).
type Prometheus struct {
	*Proc
	Addr string // 127.0.0.1:port
}

// StartPrometheus runs Prometheus with the given configuration (YAML) on a
// free loopback port, with its data in the Env's directory, and waits
// until it is ready.
func (e *Env) StartPrometheus(ctx context.Context, name, config string) (*Prometheus, error) {
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		return nil, fmt.Errorf("prometheus is needed (make setup installs Debian's prometheus): %w", err)
	}
	dir := filepath.Join(e.Dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		return nil, err
	}
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	p, err := e.Start(name, exec.Command(bin, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=info"))
	if err != nil {
		return nil, err
	}
	pr := &Prometheus{Proc: p, Addr: addr}
	if err := waitHTTP(ctx, p, "http://"+addr+"/-/ready", time.Minute); err != nil {
		p.Stop()
		return nil, err
	}
	return pr, nil
}

// Sample is one series of an instant query's answer.
type Sample struct {
	Metric map[string]string
	Value  float64
}

// Query evaluates an instant PromQL query now; an expression Prometheus
// refuses is an error with its message.
func (p *Prometheus) Query(ctx context.Context, expr string) ([]Sample, error) {
	var doc struct {
		Status    string `json:"status"`
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
		Data      struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := getJSON(ctx, "http://"+p.Addr+"/api/v1/query?query="+url.QueryEscape(expr), &doc); err != nil {
		return nil, err
	}
	if doc.Status != "success" {
		return nil, fmt.Errorf("query %s: %s: %s", expr, doc.ErrorType, doc.Error)
	}
	var out []Sample
	for _, r := range doc.Data.Result {
		s, _ := r.Value[1].(string)
		var v float64
		if _, err := fmt.Sscan(s, &v); err != nil && s != "NaN" {
			return nil, fmt.Errorf("query %s: value %q", expr, s)
		}
		out = append(out, Sample{Metric: r.Metric, Value: v})
	}
	return out, nil
}

// Alertmanager is a running Alertmanager (Debian's prometheus-alertmanager),
// alone (no cluster peers).
type Alertmanager struct {
	*Proc
	Addr string
}

// StartAlertmanager runs Alertmanager with the given configuration (YAML)
// on a free loopback port and waits until it is ready.
func (e *Env) StartAlertmanager(ctx context.Context, name, config string) (*Alertmanager, error) {
	bin, err := exec.LookPath("prometheus-alertmanager")
	if err != nil {
		return nil, fmt.Errorf("prometheus-alertmanager is needed (make setup installs Debian's prometheus-alertmanager): %w", err)
	}
	dir := filepath.Join(e.Dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		return nil, err
	}
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	// An empty cluster address: no gossip port (it would bind 0.0.0.0:9094).
	p, err := e.Start(name, exec.Command(bin, "--config.file="+cfg, "--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--cluster.listen-address="))
	if err != nil {
		return nil, err
	}
	am := &Alertmanager{Proc: p, Addr: addr}
	if err := waitHTTP(ctx, p, "http://"+addr+"/-/ready", time.Minute); err != nil {
		p.Stop()
		return nil, err
	}
	return am, nil
}

// Alert is an alert as Alertmanager's API v2 lists it.
type Alert struct {
	Labels   map[string]string `json:"labels"`
	StartsAt time.Time         `json:"startsAt"`
	EndsAt   time.Time         `json:"endsAt"`
	Status   struct {
		State string `json:"state"`
	} `json:"status"`
}

// Alerts lists the alerts Alertmanager holds now (active, silenced or
// inhibited; resolved ones are gone).
func (a *Alertmanager) Alerts(ctx context.Context) ([]Alert, error) {
	var out []Alert
	err := getJSON(ctx, "http://"+a.Addr+"/api/v2/alerts", &out)
	return out, err
}

// waitHTTP polls url until it answers 200, or p exits.
func waitHTTP(ctx context.Context, p *Proc, u string, timeout time.Duration) error {
	return Poll(ctx, p.Name+" to be ready", timeout, 100*time.Millisecond, func() error {
		if p.Exited() {
			return Permanent(fmt.Errorf("%s exited: %v\n%s", p.Name, p.ExitErr(), p.Tail(20)))
		}
		resp, err := http.Get(u)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", u, resp.Status)
		}
		return nil
	})
}

func getJSON(ctx context.Context, u string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %s: %v (%.200s)", u, resp.Status, err, b)
	}
	return nil
}

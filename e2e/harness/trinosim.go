package harness

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"strconv"
	"time"
)

// SimOptions configure a Trino protocol simulator process.
type SimOptions struct {
	Pages   int           // executing pages with data
	Rows    int           // rows per page
	Columns int           // columns per row
	Delay   time.Duration // added to every request
	// Events makes the simulator post a completion event per query, like
	// Trino's HTTP event listener, to the Env's event relay (Events) with
	// the secret "events-secret-<name>"; a control plane started after it
	// with it as a coordinator gets that secret, as for a Trino.
	Events bool
}

// Sim is a running trinosim process (cmd/trinosim).
type Sim struct {
	*Proc
	URL string
}

// StartSim starts the simulator on a free port and waits for /v1/info.
func (e *Env) StartSim(ctx context.Context, name string, o SimOptions) (*Sim, error) {
	bin, err := e.Build("./cmd/trinosim")
	if err != nil {
		return nil, err
	}
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	args := []string{"--listen", addr, "--name", name}
	if o.Pages > 0 {
		args = append(args, "--pages", strconv.Itoa(o.Pages))
	}
	if o.Rows > 0 {
		args = append(args, "--rows", strconv.Itoa(o.Rows))
	}
	if o.Columns > 0 {
		args = append(args, "--columns", strconv.Itoa(o.Columns))
	}
	if o.Delay > 0 {
		args = append(args, "--delay", o.Delay.String())
	}
	secret := ""
	if o.Events {
		relay, err := e.Events()
		if err != nil {
			return nil, err
		}
		secret = "events-secret-" + name
		args = append(args, "--events-url", relay.IngestURL(), "--event-secret", secret)
	}
	p, err := e.Start(name, exec.Command(bin, args...))
	if err != nil {
		return nil, err
	}
	s := &Sim{Proc: p, URL: "http://" + addr}
	err = Poll(ctx, name+" /v1/info", 10*time.Second, 20*time.Millisecond, func() error {
		if p.Exited() {
			return fmt.Errorf("trinosim exited:\n%s", p.Tail(20))
		}
		resp, err := http.Get(s.URL + "/v1/info")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		return nil
	})
	if err != nil {
		p.Stop()
		return nil, err
	}
	if secret != "" {
		e.addEventSecret(s.URL, secret)
	}
	return s, nil
}

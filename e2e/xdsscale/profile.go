package xdsscale

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// profile is a CPU profile of the control plane being taken (its admin
// address serves /debug/pprof/ with controlPlane.pprof).
type profile struct {
	path string
	done chan error
}

// startProfile asks for a CPU profile of the given length.
func startProfile(admin string, seconds int, path string) *profile {
	p := &profile{path: path, done: make(chan error, 1)}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(seconds+30)*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", admin, seconds), nil)
		if err != nil {
			p.done <- err
			return
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			p.done <- err
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			p.done <- fmt.Errorf("pprof: HTTP %d", resp.StatusCode)
			return
		}
		f, err := os.Create(path)
		if err != nil {
			p.done <- err
			return
		}
		_, err = io.Copy(f, resp.Body)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		p.done <- err
	}()
	return p
}

// stop waits for the profile to be written (its length, bounded).
func (p *profile) stop() error { return <-p.done }

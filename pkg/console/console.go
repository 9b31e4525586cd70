// Package console is Switchyard's web console, served by the control
// plane on its admin port at /console/: the fleet (state, health, load
// over the last minutes, drain, activate and blue/green with
// confirmation), live queries, query history with each routing decision,
// the queue and usage per workload class, the policy with a dry-run form,
// and alerts with auto-recovery and protection actions.
//
// The assets are plain HTML, CSS and JavaScript in assets/, embedded in
// the binary: no build step, no network at run time. The page signs in
// with an admin token (kept in the tab's sessionStorage, sent as a bearer
// token on every API call): viewers see, operators act; the API enforces
// the roles, the page only greys out what a role cannot do.
package console

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/health"
)

//go:embed assets
var assets embed.FS

// Path is where the console is served.
const Path = "/console/"

// Handler serves the console's assets under Path.
func Handler() http.Handler {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree is part of the binary
	}
	files := http.StripPrefix(strings.TrimSuffix(Path, "/"), http.FileServer(http.FS(sub)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, `{"error":"the console is read with GET"}`, http.StatusMethodNotAllowed)
			return
		}
		// The page holds a token: no framing by other sites, no
		// guessing of types, no inline scripts from elsewhere.
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}

// Sampler keeps each cluster's load over the last minutes, for the fleet
// page's charts: running and queued queries every Interval, Keep samples.
type Sampler struct {
	Fleet    func() *fleet.Fleet
	Status   func(key string) (health.Status, bool)
	Interval time.Duration
	Keep     int

	mu      sync.Mutex
	samples []Sample
}

// Sample is the fleet's load at one time.
type Sample struct {
	Time     time.Time              `json:"time"`
	Clusters map[string]ClusterLoad `json:"clusters"`
}

// ClusterLoad is one cluster's load in a Sample.
type ClusterLoad struct {
	Running int  `json:"running"`
	Queued  int  `json:"queued"`
	Healthy bool `json:"healthy"`
}

// Run samples until ctx's done channel closes.
func (s *Sampler) Run(done <-chan struct{}) {
	t := time.NewTicker(s.Interval)
	defer t.Stop()
	for {
		s.sample(time.Now())
		select {
		case <-done:
			return
		case <-t.C:
		}
	}
}

func (s *Sampler) sample(now time.Time) {
	f := s.Fleet()
	if f == nil {
		return
	}
	smp := Sample{Time: now.UTC(), Clusters: map[string]ClusterLoad{}}
	for i := range f.Clusters {
		c := &f.Clusters[i]
		var l ClusterLoad
		for j := range c.Coordinators {
			if st, ok := s.Status(c.CoordinatorKey(j)); ok && st.State == health.Healthy {
				l.Healthy = true
				l.Running += st.Load.Running
				l.Queued += st.Load.Queued
			}
		}
		smp.Clusters[c.Name] = l
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.samples = append(s.samples, smp)
	if len(s.samples) > s.Keep {
		s.samples = s.samples[len(s.samples)-s.Keep:]
	}
}

// Samples returns the samples kept, oldest first.
func (s *Sampler) Samples() []Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sample{}, s.samples...)
}

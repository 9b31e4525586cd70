// Package xdsscale measures how fast a change of the fleet reaches every
// Envoy attached to one control plane (issue 17, "Fleet scale"): it starts
// Redis, one `switchyard serve` with a generated fleet of N clusters and E
// small Envoy processes, drains and activates clusters through the admin
// API, and times each Envoy from the admin call to the moment it runs the
// new configuration (read at the Envoy's own admin endpoint). It also
// reads the control plane's CPU and memory during the push and the
// Envoys' memory, and writes a Markdown report with a plot
// (`make bench-xds`, cmd/xdsbench).
package xdsscale

import (
	"fmt"
	"slices"
	"time"
)

// Plan is what a run measures.
type Plan struct {
	// Envoys and Clusters are the points of the sweep: every Envoy count
	// for every cluster count. The Envoys of a cluster count are started
	// once and added to (so Envoys are taken in increasing order).
	Envoys   []int
	Clusters []int
	// Changes is the number of state changes timed per point: drains and
	// activations alternately, each of another cluster.
	Changes int
	// PerGroup is how many clusters share a routing group (a group's
	// clusters name each other in their failover clusters).
	PerGroup int
	// Poll is how often each Envoy's admin endpoint is read while a
	// change propagates.
	Poll time.Duration
	// Deadline bounds the wait for one change to reach every Envoy (and
	// the wait for the Envoys to take their first configuration).
	Deadline time.Duration
	// HealthInterval is both the control plane's and Envoy's health check
	// interval of the coordinators (which never answer: the fleet's state
	// stays steady).
	HealthInterval time.Duration
	// StartBatch is how many Envoys start at once.
	StartBatch int
	// Profile takes a CPU profile of the control plane during the changes
	// of the largest point (into the run's directory).
	Profile bool
	// SotW makes the Envoys speak state-of-the-world ADS instead of the
	// shipped bootstrap's incremental (delta) xDS.
	SotW bool
	// ClusterStats keeps Envoy's statistics of every Trino cluster (off:
	// excluded by the bootstrap's stats_matcher, to fit 50 Envoys of
	// 1,000 clusters in memory).
	ClusterStats bool
	// MinFreeMiB stops the run before starting more Envoys when the
	// machine has less memory available (it is shared).
	MinFreeMiB float64
}

// DefaultPlan is the full sweep of `make bench-xds`.
func DefaultPlan() Plan {
	return Plan{
		Envoys:         []int{1, 10, 25, 50},
		Clusters:       []int{10, 100, 1000},
		Changes:        6,
		PerGroup:       10,
		Poll:           50 * time.Millisecond,
		Deadline:       120 * time.Second,
		HealthInterval: 60 * time.Second,
		StartBatch:     5,
		MinFreeMiB:     4096,
	}
}

// SmokePlan proves the program works in seconds: 2 Envoys, 10 clusters.
func SmokePlan() Plan {
	p := DefaultPlan()
	p.Envoys, p.Clusters, p.Changes = []int{2}, []int{10}, 2
	p.Deadline = 30 * time.Second
	return p
}

// Validate checks the plan's bounds.
func (p Plan) Validate() error {
	if len(p.Envoys) == 0 || len(p.Clusters) == 0 {
		return fmt.Errorf("no points: envoys %v, clusters %v", p.Envoys, p.Clusters)
	}
	for _, n := range append(slices.Clone(p.Envoys), p.Clusters...) {
		if n < 1 || n > 10000 {
			return fmt.Errorf("counts must be within 1..10000, got %d", n)
		}
	}
	if !slices.IsSorted(p.Envoys) {
		return fmt.Errorf("envoy counts must increase: %v", p.Envoys)
	}
	if p.Changes < 1 || p.Changes > 1000 {
		return fmt.Errorf("changes must be within 1..1000, got %d", p.Changes)
	}
	if p.PerGroup < 1 {
		return fmt.Errorf("clusters per group must be at least 1, got %d", p.PerGroup)
	}
	if p.Poll <= 0 || p.Deadline <= 0 || p.HealthInterval <= 0 || p.StartBatch < 1 {
		return fmt.Errorf("poll, deadline, health interval and start batch must be positive")
	}
	return nil
}

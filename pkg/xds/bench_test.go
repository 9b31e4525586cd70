package xds

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchyard-gw/switchyard/pkg/config"
	"github.com/switchyard-gw/switchyard/pkg/fleet"
)

// benchFleet is a fleet of n clusters, 20 to a routing group, one
// coordinator each (make bench-xds puts 10 to a group).
func benchFleet(b testing.TB, n int) (*fleet.Fleet, Options) {
	b.Helper()
	var y strings.Builder
	y.WriteString("listener: {address: 0.0.0.0:8080}\nrouting: {defaultGroup: g000}\ngroups:\n")
	for g := 0; g*20 < n; g++ {
		fmt.Fprintf(&y, "- {name: g%03d}\n", g)
	}
	y.WriteString("clusters:\n")
	for i := range n {
		fmt.Fprintf(&y, "- {name: c%04d, group: g%03d, coordinators: [{url: \"http://127.1.%d.%d:1\"}]}\n", i, i/20, i/250, i%250+1)
	}
	path := filepath.Join(b.TempDir(), "fleet.yaml")
	if err := os.WriteFile(path, []byte(y.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		b.Fatal(err)
	}
	return fleet.FromConfig(cfg), Options{ListenerAddress: cfg.Listener.Address, ExtProcTargets: []string{"127.0.0.1:9001"},
		ExtProcTimeout: cfg.ControlPlane.ExtProcTimeout, MaxBodyBytes: uint32(cfg.Listener.MaxBodyBytes), RequestTimeout: cfg.Listener.RequestTimeout}
}

// BenchmarkPublication is what a fleet change costs the control plane
// before any Envoy hears of it: the fleet translated to Envoy resources,
// then every resource hashed for its version (1,000 clusters: 4,005
// Envoy clusters, 2,000 endpoint sets).
func BenchmarkPublication(b *testing.B) {
	for _, n := range []int{100, 1000} {
		f, o := benchFleet(b, n)
		b.Run(fmt.Sprintf("clusters=%d/translate", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Translate(f, o); err != nil {
					b.Fatal(err)
				}
			}
		})
		r, err := Translate(f, o)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("clusters=%d/hash", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := hashContent(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestResourceSumsInParallel: the resources' hashes (their versions, and
// so every type's and the snapshot's) do not depend on how many
// goroutines computed them.
func TestResourceSumsInParallel(t *testing.T) {
	f, o := benchFleet(t, 300)
	r, err := Translate(f, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Clusters) < 256 {
		t.Fatalf("%d clusters: too few to be split", len(r.Clusters))
	}
	defer func(n int) { hashWorkers = n }(hashWorkers)
	hashWorkers = 1
	want, err := hashContent(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{2, 3, 7} {
		hashWorkers = n
		got, err := hashContent(r)
		if err != nil {
			t.Fatal(err)
		}
		if got.version != want.version || !maps.Equal(got.types, want.types) ||
			!maps.EqualFunc(got.resources, want.resources, maps.Equal[map[string]string]) {
			t.Errorf("%d workers: version %s, want %s", n, got.version, want.version)
		}
	}
}

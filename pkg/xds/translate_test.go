package xds

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"gopkg.in/yaml.v3"

	"github.com/switchyard-gw/switchyard/pkg/config"
	"github.com/switchyard-gw/switchyard/pkg/fleet"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/out (and delete stale ones)")

func optionsFor(t *testing.T, c *config.Config) Options {
	t.Helper()
	read := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	var tlsOpts *ListenerTLS
	if l := c.Listener.TLS; l != nil {
		tlsOpts = &ListenerTLS{Address: l.Address, CertPEM: read(l.CertFile), KeyPEM: read(l.KeyFile)}
	}
	var jwt *JWTProvider
	a := c.Listener.Authentication
	if a != nil && a.JWT != nil {
		j := a.JWT
		jwt = &JWTProvider{Issuer: j.Issuer, Audiences: j.Audiences, JWKSURL: j.JWKSURL, Cache: j.JWKSCache}
		if j.JWKSFile != "" {
			jwt.JWKS = read(j.JWKSFile)
		}
		if j.JWKSCAFile != "" {
			jwt.JWKSCA = read(j.JWKSCAFile)
		}
	}
	return Options{
		TLS: tlsOpts, JWT: jwt, StripCredentials: a.Verifies() && a.Forward == config.ForwardUser, // as pkg/server sets them
		ControlPlaneTLS: c.ControlPlane.GRPCTLS != nil,
		ListenerAddress: c.Listener.Address,
		MaxBodyBytes:    uint32(c.Listener.MaxBodyBytes),
		RequestTimeout:  c.Listener.RequestTimeout,
		ExtProcTargets:  c.ControlPlane.ExtProcTargets,
		ExtProcTimeout:  c.ControlPlane.ExtProcTimeout,
		ExtAuthz:        c.Policy.Dir != "" || a.Verifies(), // as pkg/server sets it
		Resubmit:        c.Routing.Resubmission.On(),
		ResubmitTargets: c.ControlPlane.ResubmitTargets,
		QueueTargets:    c.ControlPlane.QueueTargets,
		Health: HealthCheck{Interval: c.Health.Interval, Timeout: c.Health.Timeout,
			Rise: uint32(c.Health.RiseThreshold), Fall: uint32(c.Health.FallThreshold)},
	}
}

// TestTranslateGolden: testdata/in/<case>.yaml (a configuration file) gives
// testdata/out/<case>.{listeners,routes,clusters,endpoints}.yaml.
func TestTranslateGolden(t *testing.T) {
	inputs, _ := filepath.Glob("testdata/in/*.yaml")
	if len(inputs) == 0 {
		t.Fatal("no golden inputs")
	}
	written := map[string]bool{}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".yaml")
		t.Run(name, func(t *testing.T) {
			cfg, err := config.Load(in)
			if err != nil {
				t.Fatal(err)
			}
			res, err := Translate(fleet.FromConfig(cfg), optionsFor(t, cfg))
			if err != nil {
				t.Fatal(err)
			}
			for kind, msgs := range map[string][]proto.Message{
				"listeners": toMessages(res.Listeners), "routes": toMessages(res.Routes),
				"clusters": toMessages(res.Clusters), "endpoints": toMessages(res.Endpoints), "secrets": toMessages(res.Secrets),
			} {
				path := filepath.Join("testdata", "out", name+"."+kind+".yaml")
				written[path] = true
				got := renderYAML(t, msgs)
				if *update {
					if err := os.WriteFile(path, got, 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run go test ./pkg/xds -update)", err)
				}
				if string(got) != string(want) {
					t.Errorf("%s differs from the translation (run go test ./pkg/xds -update and review the diff)", path)
				}
			}
		})
	}
	outs, _ := filepath.Glob("testdata/out/*.yaml")
	for _, o := range outs {
		if !written[o] {
			if *update {
				_ = os.Remove(o)
			} else {
				t.Errorf("stale golden file %s (run with -update)", o)
			}
		}
	}
}

func toMessages[T proto.Message](in []T) []proto.Message {
	out := make([]proto.Message, len(in))
	for i, m := range in {
		out[i] = m
	}
	return out
}

// renderYAML is protojson (resolving Any) re-encoded as YAML with sorted
// keys, so diffs are stable and readable.
func renderYAML(t *testing.T, msgs []proto.Message) []byte {
	t.Helper()
	var docs []any
	for _, m := range msgs {
		b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		docs = append(docs, v)
	}
	out, err := yaml.Marshal(docs)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

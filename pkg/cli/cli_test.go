package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func runCLI(args ...string) (string, string, error) {
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, &out, &errOut, time.Millisecond)
	return out.String(), errOut.String(), err
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{nil, {"frobnicate"}, {"serve"}, {"validate"}, {"serve", "--nope"}, {"bootstrap", "extra"}} {
		if _, _, err := runCLI(args...); !errors.Is(err, ErrUsage) {
			t.Errorf("%v: got %v, want a usage error", args, err)
		}
	}
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	_ = os.WriteFile(good, []byte("routing: {defaultGroup: a}\ngroups: [{name: a}]\n"), 0o644)
	out, _, err := runCLI("validate", "--config", good)
	if err != nil || !strings.Contains(out, "ok (1 groups, 0 clusters)") {
		t.Fatalf("%q %v", out, err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	_ = os.WriteFile(bad, []byte("routing: {defaultGroup: b}\ngroups: [{name: a}]\n"), 0o644)
	if _, _, err := runCLI("validate", "--config", bad); err == nil || !strings.Contains(err.Error(), "routing.defaultGroup") {
		t.Fatalf("got %v", err)
	}
}

func TestServeRejectsBadConfigBeforeListening(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	_ = os.WriteFile(bad, []byte("listener: {adress: x}\n"), 0o644)
	if _, _, err := runCLI("serve", "--config", bad); err == nil || !strings.Contains(err.Error(), `unknown field "adress"`) {
		t.Fatalf("got %v", err)
	}
}

func TestBootstrapAndVersion(t *testing.T) {
	out, _, err := runCLI("bootstrap", "--node-id", "edge-7", "--xds", "10.0.0.1:18000,10.0.0.2:18000")
	if err != nil || !strings.Contains(out, "id: edge-7") || strings.Count(out, "port_value: 18000") != 2 {
		t.Fatalf("%v\n%s", err, out)
	}
	if out, _, err := runCLI("version"); err != nil || !strings.HasPrefix(out, "switchyard ") {
		t.Fatalf("%q %v", out, err)
	}
}

func TestLogFlags(t *testing.T) {
	if _, err := newLogger(&bytes.Buffer{}, "loud", "text"); err == nil {
		t.Error("bad level accepted")
	}
	if _, err := newLogger(&bytes.Buffer{}, "info", "xml"); err == nil {
		t.Error("bad format accepted")
	}
}

package harness

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Build compiles a command of this repository (e.g. "./cmd/trinosim") into
// the Env's directory once and returns the binary's path.
func (e *Env) Build(pkg string) (string, error) {
	out := filepath.Join(e.Dir, filepath.Base(pkg))
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = e.Root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building %s: %v\n%s", pkg, err, b)
	}
	return out, nil
}

package harness

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// TestFreePortIsReservedAcrossProcesses: a port handed out is locked for
// as long as this process lives, so another test binary (another open file
// description, as here) cannot hand it out too, and this process never
// repeats it.
func TestFreePortIsReservedAcrossProcesses(t *testing.T) {
	seen := map[int]bool{}
	for range 20 {
		p, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		if seen[p] || p < 20000 || p >= 32000 {
			t.Fatalf("port %d handed out twice or outside 20000-31999", p)
		}
		seen[p] = true
		f, err := os.OpenFile(filepath.Join(os.TempDir(), "switchyard-ports", strconv.Itoa(p)), os.O_RDWR, 0)
		if err != nil {
			t.Fatalf("port %d has no lock file: %v", p, err)
		}
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		f.Close()
		if err == nil {
			t.Fatalf("port %d: another process could lock it too", p)
		}
	}
}

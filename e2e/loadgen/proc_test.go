package loadgen

import (
	"crypto/sha256"
	"encoding/json"
	"os"
	"testing"
	"time"
)

// burnCPU spins until pid's CPU time grew by at least d, or 5s passed.
func burnCPU(t *testing.T, pid int, d float64) {
	t.Helper()
	start, err := procCPUSeconds(pid)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	sum := sha256.Sum256(nil)
	for time.Now().Before(deadline) {
		for i := 0; i < 10000; i++ {
			sum = sha256.Sum256(sum[:])
		}
		if now, err := procCPUSeconds(pid); err == nil && now-start >= d {
			return
		}
	}
	t.Fatalf("CPU time did not grow by %vs in 5s", d)
}

func TestProcStatsSelf(t *testing.T) {
	pid := os.Getpid()
	burnCPU(t, pid, 0.01)
	cur, err := ProcRSS(pid) // before the peak: RSS only grows the peak
	if err != nil || cur <= 0 {
		t.Fatalf("RSS %d (err %v), want positive", cur, err)
	}
	cpu, rss, err := ProcStats(pid)
	if err != nil {
		t.Fatal(err)
	}
	if cpu <= 0 || rss <= 0 {
		t.Fatalf("cpu %vs, peak RSS %d bytes; want both positive", cpu, rss)
	}
	if cur > rss {
		t.Fatalf("RSS %d above the later peak %d", cur, rss)
	}
}

func TestProcStatsMissing(t *testing.T) {
	if _, _, err := ProcStats(1 << 30); err == nil {
		t.Fatal("ProcStats of a non-existent PID succeeded")
	}
}

func TestSampler(t *testing.T) {
	pid := os.Getpid()
	s := NewSampler(map[string]int{"self": pid, "gone": 1 << 30}, 5*time.Millisecond)
	s.Start()
	burnCPU(t, pid, 0.02)
	got := s.Stop()
	self := got["self"]
	if self.CPUSeconds < 0.02 || self.CPUCores <= 0 || self.PeakRSSBytes <= 0 || self.Error != "" {
		t.Errorf("self: %+v", self)
	}
	if got["gone"].Error == "" {
		t.Errorf("gone: %+v, want an error", got["gone"])
	}
	if again := s.Stop(); again != nil {
		t.Errorf("second Stop returned %v", again)
	}
	if never := NewSampler(map[string]int{"self": pid}, 0).Stop(); never != nil {
		t.Errorf("Stop without Start returned %v", never)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

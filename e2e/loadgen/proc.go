package loadgen

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ClockTicksPerSecond is the unit of utime and stime in /proc/<pid>/stat
// (USER_HZ, sysconf(_SC_CLK_TCK)). Linux fixes it at 100 on every
// architecture Go supports for user-space interfaces, whatever the kernel's
// internal HZ, so it is a constant here rather than a cgo call or a getconf
// subprocess.
const ClockTicksPerSecond = 100

// ProcStats returns the CPU time (user plus system, in seconds) a process
// has used since it started and its peak resident set size (VmHWM), from
// /proc/<pid>/stat and /proc/<pid>/status.
func ProcStats(pid int) (cpuSeconds float64, peakRSSBytes int64, err error) {
	cpuSeconds, err = procCPUSeconds(pid)
	if err != nil {
		return 0, 0, err
	}
	peakRSSBytes, err = procStatusBytes(pid, "VmHWM:")
	if err != nil {
		return 0, 0, err
	}
	return cpuSeconds, peakRSSBytes, nil
}

// ProcRSS returns the current resident set size (VmRSS) of a process.
func ProcRSS(pid int) (int64, error) {
	return procStatusBytes(pid, "VmRSS:")
}

// procCPUSeconds reads utime and stime (fields 14 and 15) of
// /proc/<pid>/stat. The command name (field 2) may contain spaces and
// parentheses, so fields are counted after its last ')'.
func procCPUSeconds(pid int) (float64, error) {
	path := "/proc/" + strconv.Itoa(pid) + "/stat"
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("reading CPU time: %w", err)
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("parsing %s: no command name", path)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state), so field n is f[n-3].
	if len(f) < 13 {
		return 0, fmt.Errorf("parsing %s: %d fields after the command name, want at least 13", path, len(f))
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parsing %s: utime %q, stime %q are not numbers", path, f[11], f[12])
	}
	return float64(utime+stime) / ClockTicksPerSecond, nil
}

// procStatusBytes reads a "Name:   N kB" line of /proc/<pid>/status.
func procStatusBytes(pid int, field string) (int64, error) {
	path := "/proc/" + strconv.Itoa(pid) + "/status"
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("reading memory use: %w", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, field)
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("parsing %s: unexpected %s line %q", path, field, line)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parsing %s: %s %q: %w", path, field, f[0], err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("parsing %s: no %s line (kernel thread or zombie?)", path, field)
}

// ProcResult is the accounting of one process over a sampled window.
type ProcResult struct {
	PID int `json:"pid"`
	// CPUSeconds is the user plus system CPU time used in the window.
	CPUSeconds float64 `json:"cpu_s"`
	// CPUCores is CPUSeconds divided by the window's wall time.
	CPUCores float64 `json:"cpu_cores"`
	// PeakRSSBytes is the largest VmRSS sampled in the window. VmHWM is not
	// used because it includes warm-up and start-up.
	PeakRSSBytes int64 `json:"peak_rss_bytes"`
	// Error reports why the accounting is missing or partial (e.g. the
	// process exited).
	Error string `json:"error,omitempty"`
}

// Sampler accounts a set of processes over a window: the CPU time used
// between Start and Stop, and the peak RSS sampled every interval.
type Sampler struct {
	pids     map[string]int
	interval time.Duration

	mu      sync.Mutex
	state   int // 0 new, 1 running, 2 stopped
	startAt time.Time
	cpu0    map[string]float64
	peak    map[string]int64
	errs    map[string]string
	stop    chan struct{}
	done    chan struct{}
}

// NewSampler returns a Sampler for the named PIDs, sampling RSS every
// interval (DefaultSampleInterval if not positive).
func NewSampler(pids map[string]int, interval time.Duration) *Sampler {
	if interval <= 0 {
		interval = DefaultSampleInterval
	}
	return &Sampler{
		pids:     pids,
		interval: interval,
		cpu0:     map[string]float64{},
		peak:     map[string]int64{},
		errs:     map[string]string{},
	}
}

// Start opens the window: it records each process's CPU time and starts
// sampling RSS. Only the first call has an effect; a call after Stop does
// nothing.
func (s *Sampler) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != 0 {
		return
	}
	s.state = 1
	s.startAt = time.Now()
	for name, pid := range s.pids {
		cpu, err := procCPUSeconds(pid)
		if err != nil {
			s.errs[name] = err.Error()
			continue
		}
		s.cpu0[name] = cpu
	}
	s.sampleLocked()
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	go s.loop(s.stop, s.done)
}

func (s *Sampler) loop(stop, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			s.mu.Lock()
			s.sampleLocked()
			s.mu.Unlock()
		}
	}
}

func (s *Sampler) sampleLocked() {
	for name, pid := range s.pids {
		if _, failed := s.errs[name]; failed {
			continue
		}
		rss, err := ProcRSS(pid)
		if err != nil {
			s.errs[name] = err.Error()
			continue
		}
		s.peak[name] = max(s.peak[name], rss)
	}
}

// Stop closes the window and returns the accounting per process name. It
// returns nil if Start was never called.
func (s *Sampler) Stop() map[string]ProcResult {
	s.mu.Lock()
	if s.state != 1 {
		s.state = 2
		s.mu.Unlock()
		return nil
	}
	s.state = 2
	close(s.stop)
	s.mu.Unlock()
	<-s.done

	s.mu.Lock()
	defer s.mu.Unlock()
	s.sampleLocked()
	wall := time.Since(s.startAt).Seconds()
	out := make(map[string]ProcResult, len(s.pids))
	for name, pid := range s.pids {
		r := ProcResult{PID: pid, PeakRSSBytes: s.peak[name]}
		if cpu0, ok := s.cpu0[name]; ok {
			if cpu, err := procCPUSeconds(pid); err == nil {
				r.CPUSeconds = cpu - cpu0
				if wall > 0 {
					r.CPUCores = r.CPUSeconds / wall
				}
			} else if s.errs[name] == "" {
				s.errs[name] = err.Error()
			}
		}
		r.Error = s.errs[name]
		out[name] = r
	}
	return out
}

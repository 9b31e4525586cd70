// Package harness starts the real components of a Switchyard deployment as
// plain processes on loopback: Redis, Trino coordinators, the switchyard
// control plane and Envoy. Tests and `make demo` share it. Every process is
// started in its own process group, logs to a file, and is stopped (also
// when the parent dies, through Pdeathsig).
package harness

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Env locates the installed components (see deploy/setup.sh) and holds the
// working directory where processes keep their files and logs.
type Env struct {
	Root     string            // repository root
	Cache    string            // .cache with the installed components
	Versions map[string]string // deploy/versions.env
	JavaHome string            // Java 24+ for Trino
	Bin      string            // the switchyard binary
	Dir      string            // working directory for this run

	mu     sync.Mutex
	procs  []*Proc
	events *EventRelay // started by Events, stopped by StopAll
	// secretsByURL are the event listener secrets of the Trinos (and
	// simulators posting events) started, by URL: a control plane's
	// configuration gets them.
	secretsByURL map[string]string
}

// NewEnv finds the repository and its installed components, and builds the
// switchyard binary into dir. A missing component is an error that says
// how to install it; nothing is skipped.
func NewEnv(dir string) (*Env, error) {
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	e := &Env{Root: root, Dir: dir}
	e.Cache = os.Getenv("SWITCHYARD_CACHE")
	if e.Cache == "" {
		e.Cache = filepath.Join(root, ".cache")
	}
	if e.Versions, err = readEnvFile(filepath.Join(root, "deploy", "versions.env")); err != nil {
		return nil, err
	}
	jh, err := os.ReadFile(filepath.Join(e.Cache, "java_home"))
	if err != nil {
		return nil, fmt.Errorf("components are not installed (%v): run `make setup`", err)
	}
	e.JavaHome = strings.TrimSpace(string(jh))
	for _, p := range []string{e.EnvoyPath(), e.PythonPath(), e.TrinoServerDir(), e.TrinoCLIPath(), e.TrinoJDBCPath(), filepath.Join(e.JavaHome, "bin", "java")} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("missing component %s: run `make setup`", p)
		}
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		return nil, errors.New("redis-server is not installed: run `make setup`")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	e.Bin = filepath.Join(dir, "switchyard")
	build := exec.Command("go", "build", "-o", e.Bin, "./cmd/switchyard")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building switchyard: %v\n%s", err, out)
	}
	return e, nil
}

// EnvoyPath is the pinned Envoy binary.
func (e *Env) EnvoyPath() string { return filepath.Join(e.Cache, "venv", "bin", "envoy") }

// PythonPath is the virtualenv's Python with the trino client.
func (e *Env) PythonPath() string { return filepath.Join(e.Cache, "venv", "bin", "python") }

// TrinoServerDir is the unpacked Trino server.
func (e *Env) TrinoServerDir() string {
	return filepath.Join(e.Cache, "trino-server-"+e.Versions["TRINO_VERSION"])
}

// TrinoCLIPath is the trino CLI executable jar.
func (e *Env) TrinoCLIPath() string {
	return filepath.Join(e.Cache, "trino-cli-"+e.Versions["TRINO_VERSION"]+".jar")
}

// TrinoJDBCPath is the Trino JDBC driver jar.
func (e *Env) TrinoJDBCPath() string {
	return filepath.Join(e.Cache, "trino-jdbc-"+e.Versions["TRINO_VERSION"]+".jar")
}

// StopAll stops every process this Env started, newest first, then the
// event relay.
func (e *Env) StopAll() {
	e.mu.Lock()
	procs, events := e.procs, e.events
	e.procs, e.events = nil, nil
	e.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].Stop()
	}
	if events != nil {
		events.Stop()
	}
}

// Procs returns the processes started so far.
func (e *Env) Procs() []*Proc {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]*Proc(nil), e.procs...)
}

// Ports handed out, so one process never gives the same port twice, and the
// lock files that keep other processes (go test runs packages in parallel)
// from handing them out too.
var (
	portsMu   sync.Mutex
	ports     = map[int]bool{}
	portLocks []*os.File
)

// FreePort returns a loopback TCP port that was free a moment ago. It picks
// below the kernel's ephemeral range (32768 and up on Linux), so an
// outgoing connection cannot take the port between this check and the
// process that binds it; never returns the same port twice; and reserves
// it across processes with a lock held until this process exits, so two
// test binaries cannot both hand it out while a slow server (a JVM) is
// still starting to bind it.
func FreePort() (int, error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 1000 {
		p := 20000 + rand.IntN(12000)
		if ports[p] {
			continue
		}
		ports[p] = true // tried: free or not, never again in this process
		if !reservePort(p) {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		l.Close()
		return p, nil
	}
	return 0, errors.New("no free port found between 20000 and 32000")
}

// reservePort takes an exclusive lock on a file named after the port in a
// directory shared by every process on the machine. The kernel drops the
// lock when the process exits, however it exits. Without the directory it
// reserves nothing (the listen check still applies).
func reservePort(p int) bool {
	dir := filepath.Join(os.TempDir(), "switchyard-ports")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return true
	}
	f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(p)), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return true
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return false
	}
	portLocks = append(portLocks, f)
	return true
}

// FreeAddr is FreePort as "127.0.0.1:port".
func FreeAddr() (string, error) {
	p, err := FreePort()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("127.0.0.1:%d", p), nil
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find the repository root (go.mod)")
		}
		dir = parent
	}
}

func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s: bad line %q", path, line)
		}
		out[k] = v
	}
	return out, sc.Err()
}

// addEventSecret records the event secret of the coordinator at url.
func (e *Env) addEventSecret(url, secret string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.secretsByURL == nil {
		e.secretsByURL = map[string]string{}
	}
	e.secretsByURL[url] = secret
}

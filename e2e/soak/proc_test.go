package soak

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// line is one line a client process printed, with when it arrived.
type line struct {
	text string
	at   time.Time
}

// clientProc is a long-running client process (a Python or JDBC worker)
// driven through stdin, whose stdout lines arrive on lines (closed when
// the process's output ends). Its stderr goes to a log file.
type clientProc struct {
	name    string
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	lines   chan line
	logPath string
	done    chan struct{}
}

// startClientProc starts cmd in its own process group (killed with the
// test binary too), appending stderr to logPath.
func startClientProc(name, logPath string, cmd *exec.Cmd) (*clientProc, error) {
	return startProc(name, logPath, cmd, false)
}

// startMergedProc is startClientProc with stderr in the same stream as
// stdout (and copied to the log), so lines of both arrive in order.
func startMergedProc(name, logPath string, cmd *exec.Cmd) (*clientProc, error) {
	return startProc(name, logPath, cmd, true)
}

func startProc(name, logPath string, cmd *exec.Cmd, merged bool) (*clientProc, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	var stdout io.Reader
	var r, w *os.File
	if merged {
		if r, w, err = os.Pipe(); err != nil {
			logf.Close()
			return nil, err
		}
		cmd.Stdout, cmd.Stderr = w, w
		stdout = io.TeeReader(r, logf)
	} else {
		cmd.Stderr = logf
		if stdout, err = cmd.StdoutPipe(); err != nil {
			logf.Close()
			return nil, err
		}
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	if w != nil {
		w.Close() // the child holds its copy; EOF comes when it exits
	}
	p := &clientProc{name: name, cmd: cmd, stdin: stdin, lines: make(chan line, 64), logPath: logPath, done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			p.lines <- line{sc.Text(), time.Now()}
		}
		close(p.lines)
		if r != nil {
			r.Close()
		}
		_ = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

// send writes one request line.
func (p *clientProc) send(s string) error {
	_, err := io.WriteString(p.stdin, s+"\n")
	return err
}

// stop kills the process group and waits (bounded) for its end.
func (p *clientProc) stop() {
	_ = p.stdin.Close()
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	go func() {
		for range p.lines { //nolint:revive // drain so the reader can finish
		}
	}()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
}

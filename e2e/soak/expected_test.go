package soak

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// expectedResults runs every catalogue query with each client directly on
// Trino (no gateway) and returns client/key -> "rows:digest". The Python
// client runs each on both clusters, which must agree.
func expectedResults(ctx context.Context, l *load) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	out := map[string]string{}
	py := []query{qNation, qRegion, qLineitemAgg, qOrdersSF1, qLineitemRows, qTxn}
	p, err := l.startPython("py-direct")
	if err != nil {
		return nil, err
	}
	defer p.stop()
	for i, q := range py {
		for _, c := range l.topo.clusters {
			req, _ := json.Marshal(pyRequest{ID: i, Server: c.trino.URL, User: soakUser, Txn: q.txn, Statements: q.statements, Timeout: pyRequestTimeout})
			ln, err := ask(ctx, p, string(req))
			if err != nil {
				return nil, fmt.Errorf("python %s on %s: %w", q.key, c.name, err)
			}
			var r pyResponse
			if err := json.Unmarshal([]byte(ln), &r); err != nil {
				return nil, fmt.Errorf("python %s on %s: %w: %s", q.key, c.name, err, ln)
			}
			if r.Error != nil || r.Digest == nil {
				return nil, fmt.Errorf("python %s on %s: %s", q.key, c.name, deref(r.Error))
			}
			got := fmt.Sprintf("%d:%s", r.Rows, *r.Digest)
			if prev, ok := out["python/"+q.key]; ok && prev != got {
				return nil, fmt.Errorf("python %s: clusters disagree: %s and %s", q.key, prev, got)
			}
			out["python/"+q.key] = got
		}
	}

	direct := l.topo.clusters[0].trino.URL
	j, err := l.startJDBC("jdbc-direct", direct)
	if err != nil {
		return nil, err
	}
	defer j.stop()
	for i, q := range []query{qNation, qRegion, qLineitemAgg, qLineitemRows} {
		if err := j.send(fmt.Sprintf("%d\t%s", i, q.statements[0])); err != nil {
			return nil, err
		}
		for {
			ln, err := receive(ctx, j)
			if err != nil {
				return nil, fmt.Errorf("jdbc %s: %w", q.key, err)
			}
			f := strings.SplitN(ln, "\t", 4)
			if len(f) < 3 || f[1] == "QID" {
				continue
			}
			if f[1] != "OK" || len(f) < 4 {
				return nil, fmt.Errorf("jdbc %s: %s", q.key, ln)
			}
			out["jdbc/"+q.key] = f[2] + ":" + f[3]
			break
		}
	}

	var file strings.Builder
	for _, q := range cliQueries {
		file.WriteString(strings.ReplaceAll(q.statements[0], "TAG", q.key) + ";\n")
	}
	path := filepath.Join(l.logDir, "cli-direct.sql")
	if err := os.WriteFile(path, []byte(file.String()), 0o644); err != nil {
		return nil, err
	}
	c, err := l.startCLI("cli-direct", direct, path)
	if err != nil {
		return nil, err
	}
	defer c.stop()
	for {
		ln, err := receive(ctx, c)
		if err != nil {
			break
		}
		if tag, rest, ok := strings.Cut(ln, "\t"); ok {
			out["cli/"+tag] = "1:" + rest
		}
	}
	for _, q := range cliQueries {
		if _, ok := out["cli/"+q.key]; !ok {
			return nil, fmt.Errorf("the CLI gave no row for %s directly on Trino (see %s)", q.key, c.logPath)
		}
	}
	return out, nil
}

// ask sends one request line and returns the answer line.
func ask(ctx context.Context, p *clientProc, req string) (string, error) {
	if err := p.send(req); err != nil {
		return "", err
	}
	return receive(ctx, p)
}

// receive returns the next output line of p.
func receive(ctx context.Context, p *clientProc) (string, error) {
	select {
	case ln, ok := <-p.lines:
		if !ok {
			return "", fmt.Errorf("%s ended (log %s)", p.name, p.logPath)
		}
		return ln.text, nil
	case <-ctx.Done():
		return "", fmt.Errorf("%s: %w", p.name, ctx.Err())
	}
}

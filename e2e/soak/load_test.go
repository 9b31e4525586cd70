package soak

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-gw/switchyard/e2e/harness"
	"github.com/switchyard-gw/switchyard/pkg/trino"
)

// query is one entry of the load's catalogue: deterministic statements
// whose result each client's run directly on Trino fixes.
type query struct {
	key, kind  string
	statements []string
	txn        bool
	// bound is how long the query may take before it counts as hung.
	bound time.Duration
}

// The catalogue. Every result is deterministic (integer aggregates, no
// floating-point sums), so each client's digest of it is fixed.
var (
	qNation = query{key: "nation-agg", kind: "short", bound: time.Minute,
		statements: []string{"SELECT count(*), sum(nationkey), max(name) FROM tpch.tiny.nation"}}
	qRegion = query{key: "region-rows", kind: "short", bound: time.Minute,
		statements: []string{"SELECT regionkey, name FROM tpch.tiny.region"}}
	qLineitemAgg = query{key: "lineitem-agg", kind: "short", bound: time.Minute,
		statements: []string{"SELECT returnflag, linestatus, count(*), sum(orderkey) FROM tpch.tiny.lineitem GROUP BY 1, 2"}}
	// A multi-second query: 1.5 million generated rows aggregated.
	qOrdersSF1 = query{key: "orders-sf1-agg", kind: "long", bound: 3 * time.Minute,
		statements: []string{"SELECT orderpriority, count(*), sum(custkey) FROM tpch.sf1.orders GROUP BY orderpriority"}}
	// A large result: 60,175 rows, many pages.
	qLineitemRows = query{key: "lineitem-rows", kind: "large", bound: 2 * time.Minute,
		statements: []string{"SELECT orderkey, linenumber, partkey, suppkey FROM tpch.tiny.lineitem"}}
	// An explicit transaction (the client sends START TRANSACTION, then
	// the statements, then COMMIT).
	qTxn = query{key: "txn-3-counts", kind: "txn", txn: true, bound: 90 * time.Second,
		statements: []string{"SELECT count(*) FROM tpch.tiny.region", "SELECT count(*) FROM tpch.tiny.nation", "SELECT count(*) FROM tpch.tiny.supplier"}}
)

// cliQueries are the trino CLI's share: single-row queries whose first
// column is a tag (TAG is replaced), so its output says which query a line
// answers.
var cliQueries = []query{
	{key: "cli-nation", kind: "short", bound: time.Minute, statements: []string{"SELECT 'TAG', count(*), sum(nationkey) FROM tpch.tiny.nation"}},
	{key: "cli-orders", kind: "short", bound: time.Minute, statements: []string{"SELECT 'TAG', count(*), sum(custkey) FROM tpch.tiny.orders"}},
	{key: "cli-part", kind: "short", bound: time.Minute, statements: []string{"SELECT 'TAG', count(*), max(partkey) FROM tpch.tiny.part"}},
}

// loop is one client loop of the load: which client, its mix, its pace
// (the least time between two query starts) and its bound on queries.
type loop struct {
	name   string
	client string
	mix    []query
	pace   time.Duration
	max    int
}

// load runs the client loops against the topology and records outcomes.
type load struct {
	topo     *topology
	env      *harness.Env
	rec      *recorder
	logDir   string
	expected map[string]string // client/key -> rows:digest on direct Trino
	rr       atomic.Int64      // round robin over Envoys
	lookups  sync.WaitGroup    // query ID lookups still running
	mu       sync.Mutex
	notes    []string // client restarts and the like, for the report
}

func (l *load) note(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.notes = append(l.notes, time.Now().Format("15:04:05.000")+" "+fmt.Sprintf(format, args...))
}

// run drives one loop until stopNew ends (no new query after that) or its
// bound; a query in flight then still gets its bound to end. hard aborts
// everything.
func (l *load) run(stopNew, hard context.Context, lp loop) {
	switch lp.client {
	case "python":
		l.pythonLoop(stopNew, hard, lp)
	case "jdbc":
		l.jdbcLoop(stopNew, hard, lp)
	case "cli":
		l.cliLoop(stopNew, hard, lp)
	default:
		panic("unknown client " + lp.client)
	}
}

// pace waits until start+d or the end of ctx.
func pace(ctx context.Context, start time.Time, d time.Duration) {
	w := time.Until(start.Add(d))
	if w <= 0 {
		return
	}
	t := time.NewTimer(w)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// ---- Python ----

type pyRequest struct {
	ID         int      `json:"id"`
	Server     string   `json:"server"`
	User       string   `json:"user"`
	Txn        bool     `json:"txn"`
	Statements []string `json:"statements"`
	Timeout    int      `json:"timeout"`
}

type pyResponse struct {
	ID        int      `json:"id"`
	QueryIDs  []string `json:"query_ids"`
	Prefixes  []string `json:"prefixes"`
	Rows      int      `json:"rows"`
	Digest    *string  `json:"digest"`
	ErrorName *string  `json:"error_name"`
	Error     *string  `json:"error"`
	Clear     bool     `json:"clear"`
}

// pyRequestTimeout is the Python client's HTTP request timeout: a request
// that takes longer fails with CLIENT_TIMEOUT, which counts as hung.
const pyRequestTimeout = 30

func (l *load) startPython(name string) (*clientProc, error) {
	cmd := exec.Command(l.env.PythonPath(), filepath.Join(l.env.Root, "e2e", "soak", "clients", "soakpy.py"))
	return startClientProc(name, filepath.Join(l.logDir, name+".log"), cmd)
}

func (l *load) pythonLoop(stopNew, hard context.Context, lp loop) {
	var p *clientProc
	defer func() {
		if p != nil {
			p.stop()
		}
	}()
	for i := 0; i < lp.max && stopNew.Err() == nil; i++ {
		if p == nil {
			var err error
			if p, err = l.startPython(lp.name); err != nil {
				l.note("%s: %v", lp.name, err)
				return
			}
		}
		q := lp.mix[i%len(lp.mix)]
		slot := l.topo.pickEnvoy(int(l.rr.Add(1)))
		o := l.rec.begin("python", q.kind, q.key, slot.index)
		req, _ := json.Marshal(pyRequest{ID: o.ID, Server: slot.URL(), User: soakUser, Txn: q.txn, Statements: q.statements, Timeout: pyRequestTimeout})
		if !l.await(hard, p, o, q, string(req), l.pyResult) {
			p.stop()
			p = nil
			l.note("%s: restarted after query #%d", lp.name, o.ID)
		}
		pace(stopNew, o.Start, lp.pace)
	}
}

// await sends one request to a worker and waits, up to the query's bound,
// for its answer, which handle records. It reports false when the worker
// must be replaced (it ended, or the query hung).
func (l *load) await(hard context.Context, p *clientProc, o *outcome, q query, req string, handle func(*outcome, query, line) bool) bool {
	if err := p.send(req); err != nil {
		l.rec.update(func() { o.End, o.ErrMsg = time.Now(), "the client process no longer reads: "+err.Error() })
		return false
	}
	timer := time.NewTimer(q.bound)
	defer timer.Stop()
	for {
		select {
		case ln, ok := <-p.lines:
			if !ok {
				l.rec.update(func() { o.End, o.ErrMsg = time.Now(), "the client process ended without reporting the query" })
				return false
			}
			if handle(o, q, ln) {
				return true
			}
		case <-timer.C:
			l.rec.update(func() {
				o.End, o.Result, o.ErrMsg = time.Now(), resultHung, fmt.Sprintf("no end within %v", q.bound)
			})
			return false
		case <-hard.Done():
			l.rec.update(func() { o.End, o.Result, o.ErrMsg = time.Now(), resultHung, "aborted at the soak's hard deadline" })
			return false
		}
	}
}

func (l *load) pyResult(o *outcome, q query, ln line) bool {
	var r pyResponse
	if err := json.Unmarshal([]byte(ln.text), &r); err != nil || r.ID != o.ID {
		l.note("python: unexpected output for #%d: %.300s", o.ID, ln.text)
		return false
	}
	l.rec.update(func() {
		o.End, o.QueryIDs, o.Rows = ln.at, r.QueryIDs, r.Rows
		if len(r.Prefixes) > 0 {
			parts := strings.Split(r.Prefixes[0], "/")
			if len(parts) > 3 {
				o.Cluster, o.Coordinator = parts[2], parts[3]
			}
			if len(r.Prefixes) > 1 {
				o.Coordinator += " (then " + strings.Join(r.Prefixes[1:], ", ") + ")"
			}
		}
		switch {
		case r.ErrorName != nil && *r.ErrorName == "CLIENT_TIMEOUT":
			o.Result, o.ErrName, o.ErrMsg = resultHung, *r.ErrorName, deref(r.Error)
		case r.ErrorName != nil:
			o.Result, o.ErrName, o.ErrMsg, o.Clear = resultError, *r.ErrorName, deref(r.Error), r.Clear
			// A wrapped Trino error (a failed COMMIT is a DatabaseError
			// around it) is named by the error it wraps.
			if m := wrappedName.FindStringSubmatch(o.ErrMsg); m != nil && !r.Clear {
				o.ErrName, o.Clear = m[1], true
			}
		default:
			o.Result, o.Digest = resultOK, deref(r.Digest)
			l.check(o, "python")
		}
	})
	return true
}

var wrappedName = regexp.MustCompile(`Trino[A-Za-z]*Error\(type=[A-Z_]+, name=([A-Z_]+),`)

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// check compares a successful query's result with the same client's run
// of it directly on Trino (called under the recorder's lock).
func (l *load) check(o *outcome, client string) {
	want, ok := l.expected[client+"/"+o.Key]
	if !ok {
		return
	}
	if got := fmt.Sprintf("%d:%s", o.Rows, o.Digest); got != want {
		o.Wrong = fmt.Sprintf("rows:digest %s, direct Trino gives %s", truncate(got, 20), truncate(want, 20))
	}
}

// ---- JDBC ----

// jvmFlags keep the client JVMs small and quick to start.
var jvmFlags = []string{"-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx256m", "-Xshare:auto"}

func (l *load) startJDBC(name, server string) (*clientProc, error) {
	args := append(append([]string{}, jvmFlags...), "-cp", l.env.TrinoJDBCPath(),
		filepath.Join(l.env.Root, "e2e", "soak", "clients", "SoakJdbc.java"),
		"jdbc:trino://"+strings.TrimPrefix(server, "http://"), soakUser)
	cmd := exec.Command(filepath.Join(l.env.JavaHome, "bin", "java"), args...)
	return startClientProc(name, filepath.Join(l.logDir, name+".log"), cmd)
}

// jdbcLoop runs one JVM pinned to one Envoy (a JDBC URL names one
// server), replaced only when it dies or a query hangs.
func (l *load) jdbcLoop(stopNew, hard context.Context, lp loop) {
	slot := l.topo.envoys[len(l.topo.envoys)-1]
	var p *clientProc
	defer func() {
		if p != nil {
			p.stop()
		}
	}()
	for i := 0; i < lp.max && stopNew.Err() == nil; i++ {
		if p == nil {
			var err error
			if p, err = l.startJDBC(lp.name, slot.URL()); err != nil {
				l.note("%s: %v", lp.name, err)
				return
			}
		}
		q := lp.mix[i%len(lp.mix)]
		o := l.rec.begin("jdbc", q.kind, q.key, slot.index)
		if !l.await(hard, p, o, q, fmt.Sprintf("%d\t%s", o.ID, q.statements[0]), l.jdbcResult(hard)) {
			p.stop()
			p = nil
			l.note("%s: restarted after query #%d", lp.name, o.ID)
		}
		pace(stopNew, o.Start, lp.pace)
	}
}

// gatewayErrors names the gateway's own error codes (JDBC reports codes).
var gatewayErrors = func() map[int]string {
	m := map[int]string{}
	for _, e := range []trino.ErrorCode{trino.ErrNoClusterAvailable, trino.ErrUnknownRoutingGroup, trino.ErrQueryTextTooLarge,
		trino.ErrQueryNotFound, trino.ErrMalformedQueryID, trino.ErrGatewayInternal, trino.ErrNoRoute, trino.ErrCoordinatorGone,
		trino.ErrGatewayUnavailable, trino.ErrBadRequest, trino.ErrPolicyDenied, trino.ErrPolicyError, trino.ErrUnknownTransaction} {
		m[e.Code] = e.Name
	}
	return m
}()

var jdbcQueryID = regexp.MustCompile(`Query failed \(#([0-9a-z_]+)\)`)

func (l *load) jdbcResult(hard context.Context) func(*outcome, query, line) bool {
	return func(o *outcome, q query, ln line) bool {
		f := strings.SplitN(ln.text, "\t", 4)
		if len(f) < 3 || f[0] != strconv.Itoa(o.ID) {
			l.note("jdbc: unexpected output for #%d: %.300s", o.ID, ln.text)
			return false
		}
		switch f[1] {
		case "QID":
			l.rec.update(func() { o.QueryIDs = []string{f[2]} })
			l.locate(hard, o, f[2])
			return false // the outcome line follows
		case "OK":
			if len(f) < 4 {
				return false
			}
			rows, _ := strconv.Atoi(f[2])
			l.rec.update(func() {
				o.End, o.Result, o.Rows, o.Digest = ln.at, resultOK, rows, f[3]
				l.check(o, "jdbc")
			})
			return true
		case "ERROR":
			code, _ := strconv.Atoi(f[2])
			msg := ""
			if len(f) > 3 {
				msg = f[3]
			}
			name := gatewayErrors[code]
			var id string
			if m := jdbcQueryID.FindStringSubmatch(msg); m != nil {
				id = m[1]
			}
			l.rec.update(func() {
				o.End, o.Result, o.ErrMsg = ln.at, resultError, msg
				o.Clear = id != "" || name != ""
				if len(o.QueryIDs) == 0 && id != "" {
					o.QueryIDs = []string{id}
				}
			})
			if id != "" {
				cl, trinoName := l.clusterOf(hard, id)
				l.rec.update(func() {
					if o.Cluster == "" {
						o.Cluster = cl
					}
					if name == "" {
						name = trinoName
					}
				})
			}
			if name == "" {
				name = errorNameFromMessage(msg)
			}
			l.rec.update(func() {
				o.ErrName = name
				if strings.Contains(msg, "timeout") && !o.Clear {
					o.Result = resultHung
				}
			})
			return true
		}
		return false
	}
}

// locate looks up, in the background, which cluster runs a query ID.
func (l *load) locate(hard context.Context, o *outcome, id string) {
	l.lookups.Add(1)
	go func() {
		defer l.lookups.Done()
		cl, _ := l.clusterOf(hard, id)
		l.rec.update(func() {
			if o.Cluster == "" {
				o.Cluster = cl
			}
		})
	}()
}

func (l *load) clusterOf(hard context.Context, id string) (string, string) {
	ctx, cancel := context.WithTimeout(hard, 5*time.Second)
	defer cancel()
	return l.topo.clusterOfQuery(ctx, id)
}

// errorNameFromMessage names an error a client printed without its name,
// by the gateway's messages.
func errorNameFromMessage(msg string) string {
	switch {
	case strings.Contains(msg, "could not complete the request to the Trino coordinator"):
		return trino.ErrCoordinatorGone.Name
	case strings.Contains(msg, "control plane did not answer"):
		return trino.ErrGatewayUnavailable.Name
	case strings.Contains(msg, "no cluster available"):
		return trino.ErrNoClusterAvailable.Name
	case connectionError(msg):
		return "CONNECTION_ERROR"
	}
	return "QUERY_FAILED"
}

// ---- trino CLI ----

// cliBatch is how many queries one CLI process runs (one JVM start per
// batch).
const cliBatch = 8

var (
	cliFailed = regexp.MustCompile(`^Query ([0-9a-z_]+) failed: (.*)$`)
	// cliException is a client-side failure the CLI prints as a Java
	// exception (a refused connection: "java.net.ConnectException: ...").
	cliException = regexp.MustCompile(`^[a-z]+(\.[A-Za-z0-9_$]+)+(Exception|Error): `)
	ansi         = regexp.MustCompile("\x1b\\[[0-9;]*m")
)

// cliLoop runs batches of cliQueries, each batch one CLI process through
// an Envoy in rotation (`-f file --ignore-errors`). The CLI runs the
// statements in order, so a query starts when the previous one's output
// line arrives (the first when the process starts: JVM start-up included)
// and ends with its own line.
func (l *load) cliLoop(stopNew, hard context.Context, lp loop) {
	n := 0
	for b := 0; n < lp.max && stopNew.Err() == nil; b++ {
		slot := l.topo.pickEnvoy(int(l.rr.Add(1)))
		batchStart := time.Now()
		l.cliRun(hard, lp, slot, b, &n)
		pace(stopNew, batchStart, lp.pace)
	}
}

func (l *load) cliRun(hard context.Context, lp loop, slot *envoySlot, b int, n *int) {
	type item struct {
		q   query
		tag string
	}
	var items []item
	var file strings.Builder
	for i := range cliBatch {
		q := lp.mix[(b*cliBatch+i)%len(lp.mix)]
		tag := fmt.Sprintf("soak%d_%d", b, i)
		items = append(items, item{q, tag})
		file.WriteString(strings.ReplaceAll(q.statements[0], "TAG", tag) + ";\n")
	}
	path := filepath.Join(l.logDir, fmt.Sprintf("%s-batch%d.sql", lp.name, b))
	if err := os.WriteFile(path, []byte(file.String()), 0o644); err != nil {
		l.note("%s: %v", lp.name, err)
		return
	}
	p, err := l.startCLI(lp.name, slot.URL(), path)
	if err != nil {
		l.note("%s: %v", lp.name, err)
		return
	}
	defer p.stop()
	idx := 0
	cur := l.rec.begin("cli", items[0].q.kind, items[0].q.key, slot.index)
	*n++
	next := func(at time.Time) {
		idx++
		if idx < len(items) {
			cur = l.rec.begin("cli", items[idx].q.kind, items[idx].q.key, slot.index)
			l.rec.update(func() { cur.Start = at })
			*n++
		} else {
			cur = nil
		}
	}
	timer := time.NewTimer(items[0].q.bound + 30*time.Second) // JVM start-up included for the first
	defer timer.Stop()
	for cur != nil {
		select {
		case ln, ok := <-p.lines:
			if !ok {
				l.rec.update(func() { cur.End, cur.ErrMsg = time.Now(), "the CLI exited without output for the query" })
				return
			}
			cl := parseCLILine(ln.text, items[idx].tag)
			switch cl.kind {
			case cliRow:
				o := cur
				l.rec.update(func() {
					o.End, o.Result, o.Rows, o.Digest = ln.at, resultOK, 1, cl.rest
					if want, ok := l.expected["cli/"+o.Key]; ok && want != "1:"+cl.rest {
						o.Wrong = fmt.Sprintf("row %q, direct Trino gives %q", cl.rest, strings.TrimPrefix(want, "1:"))
					}
				})
			case cliQueryFailed:
				o := cur
				cluster, name := l.clusterOf(hard, cl.queryID)
				if name == "" {
					name = errorNameFromMessage(cl.rest)
				}
				l.rec.update(func() {
					o.End, o.Result, o.ErrName, o.ErrMsg, o.Clear = ln.at, resultError, name, cl.rest, true
					o.QueryIDs, o.Cluster = []string{cl.queryID}, cluster
				})
			case cliClientError:
				o := cur
				l.rec.update(func() {
					o.End, o.Result, o.ErrName, o.ErrMsg = ln.at, resultError, errorNameFromMessage(cl.rest), cl.rest
				})
			default:
				continue // other output (a stack trace line, a warning)
			}
			next(ln.at)
			if cur != nil {
				timer.Reset(items[idx].q.bound)
			}
		case <-timer.C:
			o := cur
			l.rec.update(func() {
				o.End, o.Result, o.ErrMsg = time.Now(), resultHung, fmt.Sprintf("no output within %v", items[idx].q.bound)
			})
			return
		case <-hard.Done():
			o := cur
			l.rec.update(func() { o.End, o.Result, o.ErrMsg = time.Now(), resultHung, "aborted at the soak's hard deadline" })
			return
		}
	}
}

// cliLineKind is what a line of CLI output says about the running query.
type cliLineKind int

const (
	cliOther       cliLineKind = iota // a warning, a stack trace line
	cliRow                            // the query's result row
	cliQueryFailed                    // "Query ID failed: message"
	cliClientError                    // a client-side failure (refused connection)
)

type cliLine struct {
	kind    cliLineKind
	queryID string
	rest    string // the row after the tag, or the error message
}

// parseCLILine reads one line of CLI output (stdout and stderr merged,
// colours stripped) while the query tagged tag runs.
func parseCLILine(s, tag string) cliLine {
	text := ansi.ReplaceAllString(s, "")
	if t, rest, ok := strings.Cut(text, "\t"); ok && t == tag {
		return cliLine{kind: cliRow, rest: rest}
	}
	if m := cliFailed.FindStringSubmatch(text); m != nil {
		return cliLine{kind: cliQueryFailed, queryID: m[1], rest: m[2]}
	}
	if msg, ok := strings.CutPrefix(text, "Error running command: "); ok {
		return cliLine{kind: cliClientError, rest: msg}
	}
	if cliException.MatchString(text) {
		return cliLine{kind: cliClientError, rest: text}
	}
	return cliLine{kind: cliOther}
}

func (l *load) startCLI(name, server, file string) (*clientProc, error) {
	args := append(append([]string{}, jvmFlags...), "--enable-native-access=ALL-UNNAMED", "-jar", l.env.TrinoCLIPath(),
		"--server", server, "--user", soakUser, "--output-format", "TSV", "--ignore-errors", "-f", file)
	cmd := exec.Command(filepath.Join(l.env.JavaHome, "bin", "java"), args...)
	// One stream for both, so a query's error line and the next query's
	// result line arrive in order.
	cmd.Stderr = nil
	p, err := startMergedProc(name, filepath.Join(l.logDir, name+".log"), cmd)
	return p, err
}

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/switchyard-gw/switchyard/e2e/harness"
	"github.com/switchyard-gw/switchyard/pkg/xds"
)

// pyOutcome is one query of a Python client (e2e/clients/pystream.py).
type pyOutcome struct {
	Client  int     `json:"-"`
	Tag     string  `json:"tag"`
	QueryID *string `json:"query_id"`
	Rows    *int    `json:"rows"`
	Error   *string `json:"error"`
	Start   float64 `json:"start"`
	End     float64 `json:"end"`
}

// failed reports whether the query failed; submission tells whether it
// failed before it had a query ID (the submission itself).
func (o pyOutcome) failed() (bool, bool) {
	return o.Error != nil, o.Error != nil && o.QueryID == nil
}

func (o pyOutcome) String() string {
	id, msg := "-", ""
	if o.QueryID != nil {
		id = *o.QueryID
	}
	if o.Error != nil {
		msg = *o.Error
	}
	return fmt.Sprintf("client %d %s (query %s, %.3f-%.3f): %s", o.Client, o.Tag, id, o.Start, o.End, msg)
}

// pyLoad is a closed-loop load of Python trino clients with max_attempts=1
// (no client-side retry hides a gateway failure): each client is one
// process with one connection pool, running one query after another.
type pyLoad struct {
	t       *testing.T
	stop    chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
	mu      sync.Mutex
	results []pyOutcome
	errs    []error
}

// haQuery is the load's query: a few pages, a few hundred milliseconds.
func haQuery(tag string, n int) string {
	return fmt.Sprintf("SELECT '%s' AS tag, count(*) AS n, sum(quantity) AS q FROM tpch.tiny.lineitem WHERE orderkey %% 20 = %d", tag, n%20)
}

// startPyLoad starts clients Python clients against server; the load runs
// until finish (or the end of the test).
func startPyLoad(t *testing.T, server string, clients int) *pyLoad {
	t.Helper()
	l := &pyLoad{t: t, stop: make(chan struct{})}
	t.Cleanup(func() { l.finish() })
	run := time.Now().UnixNano()
	for c := range clients {
		cmd := exec.Command(env.PythonPath(), env.Root+"/e2e/clients/pystream.py", server, "e2e", "1")
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.client(c, run, stdin, bufio.NewScanner(stdout))
			_ = stdin.Close()
			if err := cmd.Wait(); err != nil {
				l.mu.Lock()
				l.errs = append(l.errs, fmt.Errorf("python client %d: %v\n%s", c, err, stderr.String()))
				l.mu.Unlock()
			}
		}()
	}
	return l
}

func (l *pyLoad) client(c int, run int64, stdin io.Writer, out *bufio.Scanner) {
	for n := 0; ; n++ {
		select {
		case <-l.stop:
			return
		default:
		}
		tag := fmt.Sprintf("ha_%d_c%d_q%d", run, c, n)
		line, _ := json.Marshal(map[string]string{"tag": tag, "sql": haQuery(tag, n)})
		if _, err := fmt.Fprintf(stdin, "%s\n", line); err != nil {
			l.fail(fmt.Errorf("python client %d: %v", c, err))
			return
		}
		if !out.Scan() {
			l.fail(fmt.Errorf("python client %d ended without answering %s: %v", c, tag, out.Err()))
			return
		}
		var o pyOutcome
		if err := json.Unmarshal(out.Bytes(), &o); err != nil {
			l.fail(fmt.Errorf("python client %d: %v: %s", c, err, out.Bytes()))
			return
		}
		o.Client = c
		l.mu.Lock()
		l.results = append(l.results, o)
		l.mu.Unlock()
	}
}

func (l *pyLoad) fail(err error) {
	l.mu.Lock()
	l.errs = append(l.errs, err)
	l.mu.Unlock()
}

// count is how many queries have ended so far.
func (l *pyLoad) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.results)
}

// since returns the queries that ended after the first n.
func (l *pyLoad) since(n int) []pyOutcome {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]pyOutcome(nil), l.results[n:]...)
}

// waitQueries waits until n more queries have ended.
func (l *pyLoad) waitQueries(t *testing.T, n int) {
	t.Helper()
	target := l.count() + n
	err := harness.Poll(context.Background(), fmt.Sprintf("%d more queries of the Python clients", n), 2*time.Minute, 20*time.Millisecond, func() error {
		if c := l.count(); c < target {
			return fmt.Errorf("%d of %d", c, target)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// finish stops the clients after their current query and returns every
// outcome; a client that broke (not a failed query: the process) fails
// the test.
func (l *pyLoad) finish() []pyOutcome {
	l.once.Do(func() {
		close(l.stop)
		l.wg.Wait()
		for _, err := range l.errs {
			l.t.Error(err)
		}
	})
	return l.since(0)
}

// failures splits the failed queries into failed submissions and failed
// running queries.
func failures(qs []pyOutcome) (submissions, running []pyOutcome) {
	for _, q := range qs {
		if failed, sub := q.failed(); sub {
			submissions = append(submissions, q)
		} else if failed {
			running = append(running, q)
		}
	}
	return submissions, running
}

// hostCounters reads Envoy's per-host counters of one cluster from admin
// /clusters ("cluster::host:port::stat::value"), by host address.
func hostCounters(en *harness.Envoy, cluster string) (map[string]map[string]int64, error) {
	body, err := en.Admin("/clusters")
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]int64{}
	for _, line := range strings.Split(body, "\n") {
		parts := strings.Split(line, "::")
		if len(parts) != 4 || parts[0] != cluster {
			continue
		}
		n, err := strconv.ParseInt(parts[3], 10, 64)
		if err != nil {
			continue
		}
		if out[parts[1]] == nil {
			out[parts[1]] = map[string]int64{}
		}
		out[parts[1]][parts[2]] = n
	}
	return out, nil
}

// streamsTo is how many requests (ext_proc streams and ext_authz checks)
// Envoy has sent to each replica's ext_proc address.
func streamsTo(t *testing.T, en *harness.Envoy, ha *harness.HA) []int64 {
	t.Helper()
	hc, err := hostCounters(en, "switchyard_extproc")
	if err != nil {
		t.Fatal(err)
	}
	out := make([]int64, len(ha.Replicas))
	for i, r := range ha.Replicas {
		out[i] = hc[r.ExtProcAddr]["rq_total"]
	}
	return out
}

// waitHealthyReplicas waits until Envoy's health checks pass for exactly
// want replicas of the ext_proc cluster.
func waitHealthyReplicas(t *testing.T, en *harness.Envoy, want int) {
	t.Helper()
	err := harness.Poll(context.Background(), fmt.Sprintf("%s to see %d healthy replicas", en.Name, want), time.Minute, 50*time.Millisecond, func() error {
		n, err := en.HealthyHosts("switchyard_extproc")
		if err != nil {
			return err
		}
		if n != want {
			return fmt.Errorf("%d healthy", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// startHA starts Redis and an HA gateway for one test, stopped at its end
// (with every log dumped if it failed), once Envoy's health checks pass for
// clusters a and b and for every replica.
func startHA(t *testing.T, replicas, envoys int) (*harness.HA, *harness.Redis) {
	t.Helper()
	return startHAWith(t, twoClusters(deadURL(t)), replicas, envoys)
}

// startHAWith is startHA with a configuration of one's own (clusters a and
// b among its clusters).
func startHAWith(t *testing.T, cfg harness.GatewayConfig, replicas, envoys int) (*harness.HA, *harness.Redis) {
	t.Helper()
	ctx := context.Background()
	name := procName(t)
	t.Cleanup(func() {
		// Every process of this test, restarted ones included.
		procs := relevant(env.Procs(), name)
		if t.Failed() {
			t.Log("\n" + harness.Dump(procs, 80))
		}
		for i := len(procs) - 1; i >= 0; i-- {
			procs[i].Stop()
		}
	})
	redis, err := env.StartRedis(ctx, name+"-redis")
	if err != nil {
		t.Fatal(err)
	}
	ha, err := env.StartGatewayHA(ctx, name, cfg, replicas, envoys, redis.Addr)
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range ha.Envoys {
		if err := en.WaitHealthy(ctx, "trino_a", "trino_b"); err != nil {
			t.Fatal(err)
		}
		waitHealthyReplicas(t, en, replicas)
	}
	return ha, redis
}

// procName names the processes of a test (subtests included) for their
// log files.
func procName(t *testing.T) string { return strings.ReplaceAll(t.Name(), "/", "-") }

// relevant keeps the processes of one test (by name prefix), each once.
func relevant(procs []*harness.Proc, prefix string) []*harness.Proc {
	seen := map[*harness.Proc]bool{}
	var out []*harness.Proc
	for _, p := range procs {
		if p != nil && !seen[p] && strings.HasPrefix(p.Name, prefix+"-") {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// extProcDecision is a replica's answer to one submission sent straight to
// its ext_proc port.
type extProcDecision struct {
	Route   string // the route header it set
	Refusal string // or the body of its immediate response
	At      time.Time
}

// extProcSubmit sends the request phase of a submission (POST
// /v1/statement, "SELECT 1") to a replica's ext_proc service as Envoy
// does, and returns the replica's decision.
func extProcSubmit(ctx context.Context, conn *grpc.ClientConn) (extProcDecision, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel() // ends the stream: the test needs the decision only
	stream, err := extprocv3.NewExternalProcessorClient(conn).Process(ctx)
	if err != nil {
		return extProcDecision{}, err
	}
	hs := []*corev3.HeaderValue{
		{Key: ":method", RawValue: []byte("POST")}, {Key: ":path", RawValue: []byte("/v1/statement")},
		{Key: ":authority", RawValue: []byte("gateway")}, {Key: "x-trino-user", RawValue: []byte("e2e")},
	}
	if err := stream.Send(&extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestHeaders{RequestHeaders: &extprocv3.HttpHeaders{
		Headers: &corev3.HeaderMap{Headers: hs}}}}); err != nil {
		return extProcDecision{}, err
	}
	if err := stream.Send(&extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestBody{RequestBody: &extprocv3.HttpBody{
		Body: []byte("SELECT 1"), EndOfStream: true}}}); err != nil {
		return extProcDecision{}, err
	}
	resp, err := stream.Recv()
	if err != nil {
		return extProcDecision{}, err
	}
	d := extProcDecision{At: time.Now()}
	if ir := resp.GetImmediateResponse(); ir != nil {
		d.Refusal = string(ir.GetBody())
		return d, nil
	}
	for _, h := range resp.GetRequestHeaders().GetResponse().GetHeaderMutation().GetSetHeaders() {
		if h.GetHeader().GetKey() == xds.RouteHeader {
			d.Route = string(h.GetHeader().GetRawValue())
		}
	}
	if d.Route == "" {
		return d, fmt.Errorf("neither a route nor a refusal: %v", resp)
	}
	return d, nil
}

// fireAtReplica sends submissions straight to a replica's ext_proc port
// from the moment the port accepts connections (workers at once, one
// after another) until it has been ready for `after` more submissions per
// worker. It returns every decision, when the port opened and when
// /readyz first said ready.
func fireAtReplica(t *testing.T, s *harness.Switchyard, workers, after int) ([]extProcDecision, time.Time, time.Time) {
	t.Helper()
	ctx := context.Background()
	err := harness.Poll(ctx, s.Name+" ext_proc port to open", time.Minute, time.Millisecond, func() error {
		if s.Exited() {
			return fmt.Errorf("exited:\n%s", s.Tail(20))
		}
		c, err := net.DialTimeout("tcp", s.ExtProcAddr, time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
	openAt := time.Now()
	conn, err := grpc.NewClient(s.ExtProcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var readyAt atomic.Pointer[time.Time]
	var mu sync.Mutex
	var out []extProcDecision
	var errs []error
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			left := after
			for left > 0 {
				d, err := extProcSubmit(ctx, conn)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					out = append(out, d)
				}
				failed := len(errs) > 100
				mu.Unlock()
				if failed {
					return
				}
				if readyAt.Load() != nil {
					left--
				}
			}
		}()
	}
	err = harness.Poll(ctx, s.Name+" to be ready", time.Minute, 5*time.Millisecond, func() error {
		resp, err := http.Get("http://" + s.AdminAddr + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/readyz: HTTP %d", resp.StatusCode)
		}
		return nil
	})
	now := time.Now()
	readyAt.Store(&now)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range errs {
		t.Errorf("a submission sent straight to %s failed: %v", s.Name, err)
	}
	return out, openAt, now
}

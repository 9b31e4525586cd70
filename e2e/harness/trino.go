package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/template"
	"time"
)

// Trino is a single-node Trino cluster (coordinator plus worker in one
// process) with the tpch and memory catalogs.
type Trino struct {
	*Proc
	Name string
	Port int
	URL  string
	// EventSecret is the secret this cluster's HTTP event listener sends
	// in the X-Switchyard-Event-Secret header with every query event
	// ("events-secret-" + Name): a control plane maps it to the cluster.
	EventSecret string
	env         *Env
	opts        TrinoOptions
}

// TrinoOptions tune a Trino process.
type TrinoOptions struct {
	Heap  string   // -Xmx, default 1G
	Port  int      // default: a free port
	Extra []string // extra config.properties lines
	// Files are extra files of the etc directory (name relative to it ->
	// content, a template with .Etc, .DataDir and .Port), e.g. resource
	// groups.
	Files map[string]string
}

// StartTrino renders deploy/trino/* into a fresh etc directory and starts
// the server. Call WaitReady before sending queries. Its HTTP event
// listener posts every query's created and completed events, with
// EventSecret, to the Env's event relay (Events), which it starts if
// needed. A file http-event-listener.properties in o.Files replaces the
// listener's configuration.
func (e *Env) StartTrino(name string, o TrinoOptions) (*Trino, error) {
	if strings.ContainsAny(name, ",:") {
		return nil, fmt.Errorf("trino name %q: ',' and ':' cannot be in its event secret (a header of http-event-listener.connect-http-headers)", name)
	}
	if o.Heap == "" {
		o.Heap = "1G"
	}
	if o.Port == 0 {
		p, err := FreePort()
		if err != nil {
			return nil, err
		}
		o.Port = p
	}
	t := &Trino{Name: name, Port: o.Port, URL: fmt.Sprintf("http://127.0.0.1:%d", o.Port), EventSecret: "events-secret-" + name, env: e, opts: o}
	if err := t.start(); err != nil {
		return nil, err
	}
	e.addEventSecret(t.URL, t.EventSecret)
	return t, nil
}

func (t *Trino) start() error {
	e := t.env
	base := filepath.Join(e.Dir, t.Name)
	etc, data := filepath.Join(base, "etc"), filepath.Join(base, "data")
	if err := os.MkdirAll(filepath.Join(etc, "catalog"), 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(data, 0o755); err != nil {
		return err
	}
	plugin := filepath.Join(e.TrinoServerDir(), "plugin", "http-event-listener")
	if _, err := os.Stat(plugin); err != nil {
		return fmt.Errorf("missing component %s (Trino's HTTP event listener): run `make setup`", plugin)
	}
	relay, err := e.Events()
	if err != nil {
		return err
	}
	vars := map[string]any{
		"Port": t.Port, "Heap": t.opts.Heap, "Extra": t.opts.Extra,
		"Environment": "switchyard", "NodeID": t.Name, "DataDir": data, "Etc": etc,
		"EventsURL": relay.IngestURL(), "EventSecret": t.EventSecret,
	}
	src := filepath.Join(e.Root, "deploy", "trino")
	for _, f := range []string{"config.properties", "jvm.config", "node.properties", "http-event-listener.properties", "catalog/tpch.properties", "catalog/memory.properties"} {
		if err := renderFile(filepath.Join(src, f), filepath.Join(etc, f), vars); err != nil {
			return err
		}
	}
	for name, content := range t.opts.Files {
		if err := renderText(name, content, filepath.Join(etc, name), vars); err != nil {
			return err
		}
	}
	p, err := e.startLauncher(t.Name, etc, data)
	if err != nil {
		return err
	}
	t.Proc = p
	return nil
}

// startLauncher runs Trino's launcher in the foreground on an etc and a
// data directory, with the Java Trino needs. A node killed with -9 leaves
// the launcher's pid file: it is removed first, or a restart would refuse
// to run if another process had taken that pid since.
func (e *Env) startLauncher(name, etc, data string) (*Proc, error) {
	_ = os.Remove(filepath.Join(data, "var", "run", "launcher.pid"))
	cmd := exec.Command(filepath.Join(e.TrinoServerDir(), "bin", "launcher"), "run", "--etc-dir", etc, "--data-dir", data)
	cmd.Env = append(os.Environ(), "JAVA_HOME="+e.JavaHome, "PATH="+filepath.Join(e.JavaHome, "bin")+":"+os.Getenv("PATH"))
	return e.Start(name, cmd)
}

// Restart starts a stopped or killed Trino again on the same port.
func (t *Trino) Restart() error {
	if !t.Exited() {
		return fmt.Errorf("%s is still running", t.Name)
	}
	return t.start()
}

func renderFile(src, dst string, vars map[string]any) error {
	out, err := renderString(src, vars)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, []byte(out), 0o644)
}

// renderString executes the template file src with vars.
func renderString(src string, vars map[string]any) (string, error) {
	b, err := os.ReadFile(src)
	if err != nil {
		return "", err
	}
	return renderTemplate(src, string(b), vars)
}

func renderText(name, text, dst string, vars map[string]any) error {
	out, err := renderTemplate(name, text, vars)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, []byte(out), 0o644)
}

// renderTemplate executes text (a file of deploy/trino, named name) with
// vars.
func renderTemplate(name, text string, vars map[string]any) (string, error) {
	tmpl, err := template.New(filepath.Base(name)).Option("missingkey=error").Parse(text)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	var out bytes.Buffer
	if err := tmpl.Execute(&out, vars); err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return out.String(), nil
}

// WaitReady waits until a query that scans a table runs. /v1/info says
// "starting": false (and SELECT 1 works) a few seconds before the node
// manager lists the server itself as a worker; until then scans fail with
// "nodes is empty" or "No nodes available".
func (t *Trino) WaitReady(ctx context.Context, timeout time.Duration) error {
	return Poll(ctx, t.Name+" to run queries", timeout, 250*time.Millisecond, func() error {
		if t.Exited() {
			return fmt.Errorf("trino exited:\n%s", t.Tail(30))
		}
		rows, err := t.Query(ctx, "SELECT count(*) FROM tpch.tiny.region")
		if err != nil {
			return err
		}
		if len(rows) != 1 {
			return fmt.Errorf("count returned %d rows", len(rows))
		}
		return nil
	})
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

// Query runs SQL straight on this cluster through the REST protocol and
// returns the rows.
func (t *Trino) Query(ctx context.Context, sql string) ([][]any, error) {
	return RunQuery(ctx, t.URL, "harness", sql, nil)
}

// QueryResults is the part of a Trino QueryResults the harness reads.
type QueryResults struct {
	ID      string  `json:"id"`
	NextURI string  `json:"nextUri"`
	InfoURI string  `json:"infoUri"`
	Data    [][]any `json:"data"`
	Stats   struct {
		State string `json:"state"`
	} `json:"stats"`
	Error *struct {
		Message   string `json:"message"`
		ErrorName string `json:"errorName"`
		ErrorType string `json:"errorType"`
	} `json:"error"`
}

// RunQuery submits SQL to server and follows nextUri to the end.
func RunQuery(ctx context.Context, server, user, sql string, headers map[string]string) ([][]any, error) {
	qr, err := Submit(ctx, server, user, sql, headers)
	if err != nil {
		return nil, err
	}
	var rows [][]any
	for i := 0; ; i++ {
		rows = append(rows, qr.Data...)
		if qr.Error != nil {
			return rows, fmt.Errorf("query %s failed: %s: %s", qr.ID, qr.Error.ErrorName, qr.Error.Message)
		}
		if qr.NextURI == "" {
			return rows, nil
		}
		if i > 100000 {
			return rows, fmt.Errorf("query %s: too many pages", qr.ID)
		}
		if qr, err = Fetch(ctx, http.MethodGet, qr.NextURI); err != nil {
			return rows, err
		}
	}
}

// Submit POSTs SQL to server/v1/statement and decodes the first answer.
func Submit(ctx context.Context, server, user, sql string, headers map[string]string) (*QueryResults, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, server+"/v1/statement", strings.NewReader(sql))
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Trino-User", user)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return do(req)
}

// Fetch requests a QueryResults URI (GET to advance, DELETE to cancel),
// retrying 502-504 answers as clients do (see FetchRetries).
func Fetch(ctx context.Context, method, uri string) (*QueryResults, error) {
	qr, _, err := FetchRetries(ctx, method, uri)
	return qr, err
}

// MaxFetchRetries is how many 502-504 answers FetchRetries retries before
// it returns the last one as a *StatusError.
const MaxFetchRetries = 20

// FetchRetries is Fetch that also reports how many 502-504 answers it
// retried (100 ms apart, at most MaxFetchRetries). A test that claims
// nothing was dropped requires zero: a retried 503 is a transient error
// that a client would have seen.
func FetchRetries(ctx context.Context, method, uri string) (*QueryResults, int, error) {
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, method, uri, nil)
		if err != nil {
			return nil, attempt, err
		}
		req.Header.Set("X-Trino-User", "harness")
		qr, err := do(req)
		var se *StatusError
		// The protocol's rule: 502-504 come from proxies; retry them.
		if err != nil && errors.As(err, &se) && se.Code >= 502 && se.Code <= 504 && attempt < MaxFetchRetries {
			select {
			case <-ctx.Done():
				return nil, attempt + 1, ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		return qr, attempt, err
	}
}

// StatusError is a non-200 answer.
type StatusError struct {
	Code int
	Body string
}

func (e *StatusError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Code, e.Body) }

func do(req *http.Request) (*QueryResults, error) {
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusNoContent {
		return &QueryResults{}, nil
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &StatusError{resp.StatusCode, string(body)}
	}
	var qr QueryResults
	if err := json.Unmarshal(body, &qr); err != nil {
		return nil, fmt.Errorf("decoding %s: %w (%.200s)", req.URL, err, body)
	}
	return &qr, nil
}

// QueryInfo is one entry of GET /v1/query.
type QueryInfo struct {
	QueryID string `json:"queryId"`
	State   string `json:"state"`
	Session struct {
		User string `json:"user"`
		// PreparedStatements are the prepared statements the query's
		// request carried (name -> SQL).
		PreparedStatements map[string]string `json:"preparedStatements"`
	} `json:"session"`
	Query     string `json:"query"`
	ErrorCode *struct {
		Name string `json:"name"`
	} `json:"errorCode"`
	// QueryStats has when the coordinator created the query and when it
	// ended (zero while it runs).
	QueryStats struct {
		CreateTime time.Time `json:"createTime"`
		EndTime    time.Time `json:"endTime"`
	} `json:"queryStats"`
}

// Queries lists the queries this coordinator knows (GET /v1/query).
func (t *Trino) Queries(ctx context.Context) ([]QueryInfo, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.URL+"/v1/query", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Trino-User", "harness")
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /v1/query: HTTP %d", resp.StatusCode)
	}
	var out []QueryInfo
	return out, json.NewDecoder(resp.Body).Decode(&out)
}

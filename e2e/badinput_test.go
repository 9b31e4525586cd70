package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/switchyard-gw/switchyard/e2e/harness"
)

// TestBadInputs sends malformed and unroutable requests through Envoy and
// checks that each gets a Trino-shaped JSON error with a readable message:
// on the statement protocol a FAILED QueryResults with HTTP 200 (what every
// client prints), elsewhere a JSON error document with a 4xx status.
func TestBadInputs(t *testing.T) {
	g := startGateway(t, 1, twoClusters(deadURL(t)))
	big := "SELECT 1 /* " + strings.Repeat("x", 1<<20) + " */"
	tests := []struct {
		name, method, path, body string
		headers                  map[string]string
		status                   int
		errorName, message       string
	}{
		{"unknown routing group", "POST", "/v1/statement", "SELECT 1", map[string]string{"X-Trino-Routing-Group": "nope"},
			200, "UNKNOWN_ROUTING_GROUP", `unknown routing group "nope" (X-Trino-Routing-Group); known groups: adhoc, etl`},
		{"no cluster up in group", "POST", "/v1/statement", "SELECT 1", map[string]string{"X-Trino-Routing-Group": "etl"},
			200, "NO_CLUSTER_AVAILABLE", "no cluster available in group etl"},
		{"body over the limit", "POST", "/v1/statement", big, nil,
			200, "QUERY_TEXT_TOO_LARGE", "query text exceeds the gateway limit of 1048576 bytes"},
		{"malformed query ID on nextUri", "GET", "/v1/statement/executing/NOT-AN-ID/y1/1", "", nil,
			200, "MALFORMED_QUERY_ID", `malformed query ID "NOT-AN-ID"`},
		{"missing query ID on nextUri", "GET", "/v1/statement/queued/", "", nil,
			200, "MALFORMED_QUERY_ID", "the query ID is missing"},
		{"unknown query ID on nextUri", "GET", "/v1/statement/executing/20200101_000000_00000_zzzzz/y1/1", "", nil,
			200, "QUERY_NOT_FOUND", "query 20200101_000000_00000_zzzzz is not known to the gateway"},
		{"unknown query ID on the REST API", "GET", "/v1/query/20200101_000000_00000_zzzzz", "", nil,
			404, "QUERY_NOT_FOUND", "is not known to the gateway"},
		{"malformed query ID on the REST API", "GET", "/v1/query/bad%20id", "", nil,
			404, "MALFORMED_QUERY_ID", "malformed query ID"},
		{"submission under the gateway prefix", "POST", "/_sy/a/0/v1/statement", "SELECT 1", nil,
			404, "NO_ROUTE", "unknown or closed gateway path"},
		{"unknown cluster under the gateway prefix", "GET", "/_sy/nope/0/v1/statement/executing/20200101_000000_00000_zzzzz/y/1", "", nil,
			404, "NO_ROUTE", "unknown or closed gateway path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, g.URL(0)+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Trino-User", "e2e")
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			status, doc := send(t, req)
			if status != tt.status {
				t.Fatalf("status %d, want %d (body %v)", status, tt.status, doc)
			}
			if tt.status == 200 {
				if doc.Stats.State != "FAILED" || doc.ID == "" || doc.InfoURI == "" {
					t.Errorf("not a FAILED QueryResults: %+v", doc)
				}
			}
			if doc.Error.ErrorName != tt.errorName || !strings.Contains(doc.Error.Message, tt.message) {
				t.Fatalf("error %s %q, want %s containing %q", doc.Error.ErrorName, doc.Error.Message, tt.errorName, tt.message)
			}
			if doc.Error.ErrorType == "" || doc.Error.ErrorCode == 0 {
				t.Errorf("error lacks errorType or errorCode: %+v", doc.Error)
			}
		})
	}

	// The edge settings of docs/configuration.md, through the real Envoy.
	t.Run("edge: a header with underscores is refused", func(t *testing.T) {
		req, err := http.NewRequest("POST", g.URL(0)+"/v1/statement", strings.NewReader("SELECT 1"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Trino-User", "e2e")
		req.Header["X_Trino_User"] = []string{"admin"}
		if status, doc := send(t, req); status != 400 || doc.Error.Message == "" {
			t.Fatalf("status %d %+v, want 400 with a JSON error", status, doc)
		}
	})
	t.Run("edge: too many headers are refused", func(t *testing.T) {
		req, err := http.NewRequest("POST", g.URL(0)+"/v1/statement", strings.NewReader("SELECT 1"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Trino-User", "e2e")
		for i := range 120 {
			req.Header.Set("X-Extra-"+strconv.Itoa(i), "x")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("status %d, want 431", resp.StatusCode)
		}
	})
	t.Run("edge: paths are normalised before routing", func(t *testing.T) {
		// Merged slashes: the same submission as /v1/statement.
		qr, err := harness.Submit(context.Background(), g.URL(0)+"/", "e2e", "SELECT 1", nil)
		if err != nil {
			t.Fatal(err)
		}
		if qr.Error != nil || qr.NextURI == "" {
			t.Fatalf("a submission to //v1/statement: %+v", qr)
		}
		// An escaped slash is unescaped and the client redirected, never
		// routed as another path.
		nc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := nc.Get(g.URL(0) + "/v1/query%2F20200101_000000_00000_zzzzz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode/100 != 3 || !strings.HasSuffix(loc, "/v1/query/20200101_000000_00000_zzzzz") {
			t.Fatalf("status %d Location %q, want a redirect to the unescaped path", resp.StatusCode, loc)
		}
	})

	t.Run("client cannot choose the cluster", func(t *testing.T) {
		// The gateway-owned headers are stripped before routing: asking for
		// the dead cluster or faking a prefix changes nothing.
		qr, err := harness.Submit(context.Background(), g.URL(0), "e2e", "SELECT 1",
			map[string]string{"x-switchyard-route": "dead", "X-Forwarded-Prefix": "/_sy/dead/0"})
		if err != nil {
			t.Fatal(err)
		}
		if qr.Error != nil {
			t.Fatalf("query failed: %s", qr.Error.Message)
		}
		if o := ownerOf(t, qr.NextURI); o != "a" && o != "b" {
			t.Fatalf("query went to %q", o)
		}
	})

	t.Run("clients print the reason", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "big.sql")
		if err := os.WriteFile(file, []byte(big+";\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := runCLI(t, g.URL(0), "-f", file)
		if err == nil {
			t.Fatalf("CLI succeeded with an oversized query: %s", out)
		}
		if !strings.Contains(err.Error(), "failed: query text exceeds the gateway limit of 1048576 bytes") {
			t.Fatalf("CLI error does not carry the reason: %v", err)
		}
		res := runPython(t, g.URL(0), map[string]string{"X-Trino-Routing-Group": "etl"}, []taggedQuery{{Tag: "etl", SQL: "SELECT 1"}})
		if !strings.Contains(res[0].Error, "name=NO_CLUSTER_AVAILABLE") || !strings.Contains(res[0].Error, "no cluster available in group etl") {
			t.Fatalf("python client error does not carry the reason: %q", res[0].Error)
		}
	})
}

type errorDoc struct {
	ID      string `json:"id"`
	InfoURI string `json:"infoUri"`
	Stats   struct {
		State string `json:"state"`
	} `json:"stats"`
	Error struct {
		Message   string `json:"message"`
		ErrorCode int    `json:"errorCode"`
		ErrorName string `json:"errorName"`
		ErrorType string `json:"errorType"`
	} `json:"error"`
}

func send(t *testing.T, req *http.Request) (int, errorDoc) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("content-type %q, want JSON (body %s)", ct, body)
	}
	var doc errorDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, body)
	}
	return resp.StatusCode, doc
}

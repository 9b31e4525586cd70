package coordinator

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"
)

// The shape of Trino's failure-detector stats (the capture's single-node
// cluster listed none): a node without recent requests has a NaN ratio.
const nodesDoc = `[{"age":"2.05m","uri":"http://192.0.2.3:8081","recentFailures":0.0,"recentSuccesses":41.2,"recentRequests":41.2,
"recentFailureRatio":0.0,"lastRequestTime":"2026-12-01T20:36:11.000Z","lastResponseTime":"2026-12-01T20:36:11.002Z","recentFailuresByType":{}},
{"age":"1.00s","uri":"http://192.0.2.4:8081","recentFailures":0.0,"recentSuccesses":0.0,"recentRequests":0.0,"recentFailureRatio":"NaN"}]`

func TestNodes(t *testing.T) {
	f := newFake(t, answer(200, nodesDoc))
	nodes, err := New(Options{}).Nodes(context.Background(), f.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 2 || nodes[0].URI != "http://192.0.2.3:8081" || nodes[0].Age.Std() != 123*time.Second ||
		float64(nodes[0].RecentRequests) != 41.2 || !math.IsNaN(float64(nodes[1].RecentFailureRatio)) {
		t.Fatalf("nodes %+v", nodes)
	}
}

// SetNodeState is PUT {node}/v1/info/state with a JSON string.
func TestSetNodeState(t *testing.T) {
	f := newFake(t, answer(200, ""))
	if err := New(Options{}).SetNodeState(context.Background(), f.srv.URL+"/", NodeShuttingDown); err != nil {
		t.Fatal(err)
	}
	r := f.only()
	if r.Method != "PUT" || r.Path != "/v1/info/state" || r.Body != `"SHUTTING_DOWN"` || r.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("request %s %s %q (%s)", r.Method, r.Path, r.Body, r.Header.Get("Content-Type"))
	}
}

func TestSetNodeStateErrors(t *testing.T) {
	// Trino 476's answer to a node state change under the default access
	// control, and on a coordinator.
	f := newFake(t, answer(403, "Error 403 Forbidden: Management only resource"))
	err := New(Options{}).SetNodeState(context.Background(), f.srv.URL, NodeShuttingDown)
	var se *StatusError
	if !errors.As(err, &se) || se.Status != 403 {
		t.Fatalf("got %v, want HTTP 403", err)
	}
	wantErr(t, err, "node "+f.srv.URL+": PUT /v1/info/state: HTTP 403: Error 403 Forbidden: Management only resource")

	wantErr(t, New(Options{}).SetNodeState(context.Background(), "file:///etc", NodeShuttingDown), "not an http(s) URL")
	wantErr(t, New(Options{}).SetNodeState(context.Background(), f.srv.URL, ""), "the state is empty")
	if n := len(f.requests()); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
}

package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// Node is one entry of GET /v1/node: a node the coordinator's failure
// detector watches (every node but the coordinator itself).
type Node struct {
	URI                string   `json:"uri"`
	Age                Duration `json:"age"`
	RecentRequests     Float    `json:"recentRequests"`
	RecentFailures     Float    `json:"recentFailures"`
	RecentSuccesses    Float    `json:"recentSuccesses"`
	RecentFailureRatio Float    `json:"recentFailureRatio"` // NaN without recent requests
}

// Nodes lists the nodes a coordinator knows (GET /v1/node).
func (cl *Client) Nodes(ctx context.Context, baseURL string) ([]Node, error) {
	var out []Node
	err := cl.getJSON(ctx, &call{method: http.MethodGet, base: baseURL, path: "/v1/node"}, &out)
	return out, err
}

// Node states for SetNodeState.
const (
	// NodeShuttingDown asks a worker to shut down gracefully: stop taking
	// tasks, wait shutdown.grace-period, finish its tasks, wait again,
	// exit. Coordinators refuse it.
	NodeShuttingDown = "SHUTTING_DOWN"
)

// SetNodeState changes a node's state (PUT {nodeURI}/v1/info/state with
// the state as a JSON string). It needs management-write permission: the
// default access control answers 403.
func (cl *Client) SetNodeState(ctx context.Context, nodeURI, state string) error {
	if u, err := url.Parse(nodeURI); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("node %q: not an http(s) URL", clip(nodeURI, 100))
	}
	c := &call{method: http.MethodPut, base: nodeURI, path: "/v1/info/state", role: "node", ctype: "application/json", any2xx: true}
	if state == "" {
		return c.errorf("%w", errors.New("the state is empty"))
	}
	c.body, _ = json.Marshal(state) // a string always encodes
	_, _, err := cl.do(ctx, c)
	return err
}

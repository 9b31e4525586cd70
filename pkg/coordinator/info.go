package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
)

// Info is the /v1/info document of a Trino node.
type Info struct {
	NodeVersion NodeVersion `json:"nodeVersion"`
	Environment string      `json:"environment"`
	Coordinator bool        `json:"coordinator"`
	// Starting is true while the node starts up; a coordinator takes
	// queries once it is false.
	Starting bool     `json:"starting"`
	Uptime   Duration `json:"uptime"`
}

// NodeVersion is a node's Trino version.
type NodeVersion struct {
	Version string `json:"version"`
}

// maxInfoBytes bounds a /v1/info answer (a few hundred bytes in practice).
const maxInfoBytes = 64 << 10

// ParseInfo decodes a /v1/info document. The "starting" field is required
// (a document without it is not a Trino node's) and must be a boolean: the
// health checks decide by it. The other fields are informational: one in a
// shape this version does not know is left zero, so a cosmetic change in
// Trino cannot mark a coordinator down.
func ParseInfo(b []byte) (Info, error) {
	var raw struct {
		Starting    *bool           `json:"starting"`
		NodeVersion json.RawMessage `json:"nodeVersion"`
		Environment json.RawMessage `json:"environment"`
		Coordinator json.RawMessage `json:"coordinator"`
		Uptime      json.RawMessage `json:"uptime"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return Info{}, err
	}
	if raw.Starting == nil {
		return Info{}, errors.New(`the document has no "starting" field`)
	}
	info := Info{Starting: *raw.Starting}
	for _, f := range []struct {
		raw json.RawMessage
		dst any
	}{{raw.NodeVersion, &info.NodeVersion}, {raw.Environment, &info.Environment}, {raw.Coordinator, &info.Coordinator}, {raw.Uptime, &info.Uptime}} {
		if len(f.raw) > 0 {
			_ = json.Unmarshal(f.raw, f.dst) // informational: left zero when not understood
		}
	}
	return info, nil
}

// Info reads GET /v1/info (no authentication needed).
func (cl *Client) Info(ctx context.Context, baseURL string) (Info, error) {
	c := &call{method: http.MethodGet, base: baseURL, path: "/v1/info", limit: maxInfoBytes}
	_, b, err := cl.do(ctx, c)
	if err != nil {
		return Info{}, err
	}
	info, err := ParseInfo(b)
	if err != nil {
		return Info{}, c.errorf("decoding the answer: %w", err)
	}
	return info, nil
}

// Status is the /v1/status document of a Trino node (Trino 476): identity,
// memory and CPU. /metrics has no JVM heap gauge; this does.
type Status struct {
	NodeID          string      `json:"nodeId"`
	NodeVersion     NodeVersion `json:"nodeVersion"`
	Environment     string      `json:"environment"`
	Coordinator     bool        `json:"coordinator"`
	Uptime          Duration    `json:"uptime"`
	ExternalAddress string      `json:"externalAddress"`
	InternalAddress string      `json:"internalAddress"`
	MemoryInfo      MemoryInfo  `json:"memoryInfo"`
	Processors      int         `json:"processors"`
	ProcessCPULoad  Float       `json:"processCpuLoad"` // 0 to 1
	SystemCPULoad   Float       `json:"systemCpuLoad"`  // 0 to 1
	HeapUsed        int64       `json:"heapUsed"`       // bytes
	HeapAvailable   int64       `json:"heapAvailable"`  // bytes (the maximum heap)
	NonHeapUsed     int64       `json:"nonHeapUsed"`    // bytes
}

// MemoryInfo is the node's query memory.
type MemoryInfo struct {
	AvailableProcessors int        `json:"availableProcessors"`
	Pool                MemoryPool `json:"pool"`
}

// MemoryPool is the node's memory pool for queries, in bytes.
type MemoryPool struct {
	MaxBytes               int64 `json:"maxBytes"`
	ReservedBytes          int64 `json:"reservedBytes"`
	ReservedRevocableBytes int64 `json:"reservedRevocableBytes"`
	FreeBytes              int64 `json:"freeBytes"`
}

// Status reads GET /v1/status.
func (cl *Client) Status(ctx context.Context, baseURL string) (Status, error) {
	var s Status
	err := cl.getJSON(ctx, &call{method: http.MethodGet, base: baseURL, path: "/v1/status", limit: maxInfoBytes}, &s)
	return s, err
}

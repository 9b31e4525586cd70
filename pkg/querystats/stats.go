// Package querystats turns Trino's query documents (GET /v1/query and
// GET /v1/query/{id}, parsed by pkg/coordinator) into the runtime
// statistics a query watchdog's policy evaluates (input.query in Rego):
// times, memory, input and output, progress, and, from the detail's stage
// tree, how unevenly each stage's rows are spread over its tasks (skew).
//
// Every function here is pure: no I/O, no clock. The numbers are Trino's
// as of the document; a running query's grow from one poll to the next.
package querystats

import (
	"math"

	"github.com/switchyard-gw/switchyard/pkg/coordinator"
)

// Stats is one query as the watchdog policy sees it (input.query in
// Rego). The JSON field names are the policy's interface: fields may be
// added, none renamed. Lists are never null (empty instead); stages and
// skew are absent unless the detail was read.
type Stats struct {
	// QueryID is Trino's query ID, e.g. "20261201_203612_00019_ftfm3".
	QueryID string `json:"queryId"`
	// State is Trino's query state: QUEUED, PLANNING, STARTING, RUNNING,
	// FINISHING, FINISHED or FAILED (and WAITING_FOR_RESOURCES,
	// DISPATCHING).
	State string `json:"state"`
	// User is the user the query runs as (session.user).
	User string `json:"user"`
	// Source is the client's X-Trino-Source (session.source), "" if none.
	Source string `json:"source"`
	// Query is the SQL text as submitted.
	Query string `json:"query"`
	// QueryType is SELECT, INSERT, EXPLAIN, ... ("" before planning).
	QueryType string `json:"queryType"`
	// ResourceGroup is the resource group's path, e.g. ["global",
	// "adhoc"] (empty before the query is assigned one).
	ResourceGroup []string `json:"resourceGroup"`
	// ClientTags are the client's X-Trino-Client-Tags.
	ClientTags []string `json:"clientTags"`

	// ElapsedSeconds is the time since the query was created (wall
	// clock, queueing included).
	ElapsedSeconds float64 `json:"elapsedSeconds"`
	// QueuedSeconds is the time it waited in its resource group's queue.
	QueuedSeconds float64 `json:"queuedSeconds"`
	// ExecutionSeconds is the time since it left the queue (planning,
	// scheduling and running).
	ExecutionSeconds float64 `json:"executionSeconds"`
	// CPUSeconds is the CPU time of all its tasks on all nodes, so it can
	// exceed ElapsedSeconds on a multi-core cluster.
	CPUSeconds float64 `json:"cpuSeconds"`

	// PeakMemoryBytes is the peak of the query's user memory (what
	// query.max-memory limits), over all nodes.
	PeakMemoryBytes int64 `json:"peakMemoryBytes"`
	// PeakTotalMemoryBytes is the peak of user plus revocable memory (what
	// query.max-total-memory limits).
	PeakTotalMemoryBytes int64 `json:"peakTotalMemoryBytes"`
	// CurrentMemoryBytes is the user memory the query holds now.
	CurrentMemoryBytes int64 `json:"currentMemoryBytes"`

	// PhysicalInputBytes is what its table scans read from storage (0 for
	// connectors that generate data, such as tpch).
	PhysicalInputBytes int64 `json:"physicalInputBytes"`
	// RawInputBytes is the size of the rows its table scans produced.
	RawInputBytes int64 `json:"rawInputBytes"`
	// InputRows is the number of rows its table scans produced.
	InputRows int64 `json:"inputRows"`
	// OutputRows and OutputBytes are what its root stage produced for the
	// client so far. Only the detail has them (Detailed); 0 otherwise.
	OutputRows  int64 `json:"outputRows"`
	OutputBytes int64 `json:"outputBytes"`
	// Explosion is OutputRows / InputRows: how many rows the query
	// returns per row it read (0 when InputRows is 0 or not Detailed). A
	// join that multiplies rows and returns them shows it here; one that
	// aggregates them shows it in its stage's Explosion.
	Explosion float64 `json:"explosion"`

	// ProgressPercent is Trino's estimate of the share of the query's
	// splits done, 0 to 100, valid only when ProgressKnown (Trino has none
	// before the query is scheduled and has drivers).
	ProgressPercent float64 `json:"progressPercent"`
	ProgressKnown   bool    `json:"progressKnown"`
	// FullyBlocked is true when every running driver of the query waits
	// (on memory, input or output); BlockedReasons says on what, e.g.
	// WAITING_FOR_MEMORY.
	FullyBlocked   bool     `json:"fullyBlocked"`
	BlockedReasons []string `json:"blockedReasons"`
	// SpilledBytes is what it has spilled to disk.
	SpilledBytes int64 `json:"spilledBytes"`

	// Detailed is true when the stats come from the detail document
	// (GET /v1/query/{id}): then Stages, Skew and the output are set.
	Detailed bool `json:"detailed"`
	// Stages are the stages of the plan, the root first, then each
	// stage's children depth-first (only when Detailed).
	Stages []StageStats `json:"stages,omitempty"`
	// Skew is the most skewed stage among those measured (not leaves, at
	// least MinTasks tasks and MinRows rows: see Options); nil when none
	// is.
	Skew *Skew `json:"skew,omitempty"`
}

// FromSummary computes the statistics of one entry of GET /v1/query. The
// list has no output figures and no stages: Detailed is false.
func FromSummary(q coordinator.QuerySummary) Stats {
	st := q.Stats
	s := Stats{
		QueryID:              q.QueryID,
		State:                q.State,
		User:                 q.Session.User,
		Source:               q.Session.Source,
		Query:                q.Query,
		QueryType:            q.QueryType,
		ResourceGroup:        nonNil(q.ResourceGroupID),
		ClientTags:           nonNil(q.Session.ClientTags),
		ElapsedSeconds:       st.Elapsed.Std().Seconds(),
		QueuedSeconds:        st.Queued.Std().Seconds(),
		ExecutionSeconds:     st.Execution.Std().Seconds(),
		CPUSeconds:           st.CPU.Std().Seconds(),
		PeakMemoryBytes:      int64(st.PeakUserMemory),
		PeakTotalMemoryBytes: int64(st.PeakTotalMemory),
		CurrentMemoryBytes:   int64(st.UserMemory),
		PhysicalInputBytes:   int64(st.PhysicalInput),
		RawInputBytes:        int64(st.RawInput),
		InputRows:            st.RawInputPositions,
		FullyBlocked:         st.FullyBlocked,
		BlockedReasons:       nonNil(st.BlockedReasons),
		SpilledBytes:         int64(st.Spilled),
	}
	if p := st.ProgressPercentage; p != nil && !math.IsNaN(float64(*p)) && !math.IsInf(float64(*p), 0) {
		s.ProgressPercent, s.ProgressKnown = min(max(float64(*p), 0), 100), true
	}
	return s
}

// FromDetail computes the statistics of GET /v1/query/{id} with the
// default Options: the summary's, the output, the stages and the skew.
// A nil detail gives the zero Stats (with empty lists).
func FromDetail(d *coordinator.QueryDetail) Stats {
	return Options{}.FromDetail(d)
}

// FromDetail computes the statistics of GET /v1/query/{id}, measuring skew
// on the stages o admits.
func (o Options) FromDetail(d *coordinator.QueryDetail) Stats {
	if d == nil {
		return FromSummary(coordinator.QuerySummary{})
	}
	s := FromSummary(d.QuerySummary)
	s.Detailed = true
	s.OutputRows = d.Stats.OutputPositions
	s.OutputBytes = int64(d.Stats.OutputDataSize)
	s.Explosion = ratio(s.OutputRows, s.InputRows)
	s.Stages = stages(d.OutputStage)
	s.Skew = o.skew(s.Stages)
	return s
}

// ratio is a/b as a float, 0 when b is not positive.
func ratio(a, b int64) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

package coordinator

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/trino"
)

// QuerySummary is one entry of GET /v1/query (Trino's BasicQueryInfo), the
// fields Switchyard reads.
type QuerySummary struct {
	QueryID         string       `json:"queryId"`
	State           string       `json:"state"` // QUEUED, ..., RUNNING, FINISHING, FINISHED, FAILED
	Session         QuerySession `json:"session"`
	ResourceGroupID []string     `json:"resourceGroupId"` // path segments, e.g. ["global", "adhoc"]
	Query           string       `json:"query"`
	QueryType       string       `json:"queryType"` // SELECT, INSERT, EXPLAIN, ...
	ErrorType       string       `json:"errorType"` // set when the query failed
	ErrorCode       *ErrorCode   `json:"errorCode"` // set when the query failed
	Stats           QueryStats   `json:"queryStats"`
}

// QuerySession is the session a query runs with.
type QuerySession struct {
	User       string   `json:"user"`
	Source     string   `json:"source"`
	Catalog    string   `json:"catalog"`
	Schema     string   `json:"schema"`
	ClientTags []string `json:"clientTags"`
	// TransactionID is the transaction the query ran in (an explicit
	// one, or the implicit one of an auto-commit query).
	TransactionID string `json:"transactionId"`
}

// ErrorCode is Trino's error code of a failed query.
type ErrorCode struct {
	Code int    `json:"code"`
	Name string `json:"name"` // e.g. ADMINISTRATIVELY_KILLED
	Type string `json:"type"` // USER_ERROR, INTERNAL_ERROR, ...
}

// QueryStats are a query's statistics so far.
type QueryStats struct {
	Created              time.Time `json:"createTime"`
	Elapsed              Duration  `json:"elapsedTime"`
	Queued               Duration  `json:"queuedTime"`
	Execution            Duration  `json:"executionTime"`
	CPU                  Duration  `json:"totalCpuTime"`
	UserMemory           DataSize  `json:"userMemoryReservation"`
	PeakUserMemory       DataSize  `json:"peakUserMemoryReservation"`
	PeakTotalMemory      DataSize  `json:"peakTotalMemoryReservation"`
	CumulativeUserMemory Float     `json:"cumulativeUserMemory"` // byte-seconds
	PhysicalInput        DataSize  `json:"physicalInputDataSize"`
	RawInput             DataSize  `json:"rawInputDataSize"`
	RawInputPositions    int64     `json:"rawInputPositions"`
	Spilled              DataSize  `json:"spilledDataSize"`
	// ProgressPercentage is nil while Trino does not know it: it omits
	// the field until the query is scheduled and has drivers.
	ProgressPercentage *Float   `json:"progressPercentage"`
	FullyBlocked       bool     `json:"fullyBlocked"`
	BlockedReasons     []string `json:"blockedReasons"`
	// OutputPositions and OutputDataSize are what the query's root stage
	// has produced (rows and bytes for the client). Only the detail
	// (GET /v1/query/{id}, Trino's QueryStats) has them: the list's
	// BasicQueryStats does not, and they stay 0 there.
	OutputPositions int64    `json:"outputPositions"`
	OutputDataSize  DataSize `json:"outputDataSize"`
}

func (s *QueryStats) validate() error {
	if s.RawInputPositions < 0 {
		return fmt.Errorf("queryStats.rawInputPositions: %d is negative", s.RawInputPositions)
	}
	if s.OutputPositions < 0 {
		return fmt.Errorf("queryStats.outputPositions: %d is negative", s.OutputPositions)
	}
	return nil
}

func (q *QuerySummary) validate() error {
	if err := q.Stats.validate(); err != nil {
		return fmt.Errorf("query %s: %w", clip(q.QueryID, 40), err)
	}
	return nil
}

// ParseQueries decodes a GET /v1/query answer.
func ParseQueries(b []byte) ([]QuerySummary, error) {
	var out []QuerySummary
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	for i := range out {
		if err := out[i].validate(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Queries lists the queries a coordinator knows (GET /v1/query), running
// and recently finished; with state (e.g. "RUNNING") only those in it.
func (cl *Client) Queries(ctx context.Context, baseURL, state string) ([]QuerySummary, error) {
	path := "/v1/query"
	if state != "" {
		path += "?state=" + url.QueryEscape(state)
	}
	c := &call{method: http.MethodGet, base: baseURL, path: path}
	_, b, err := cl.do(ctx, c)
	if err != nil {
		return nil, err
	}
	out, err := ParseQueries(b)
	if err != nil {
		return nil, c.errorf("decoding the answer: %w", err)
	}
	return out, nil
}

// QueryDetail is GET /v1/query/{id} (Trino's QueryInfo): the summary's
// fields, the failure and the stage tree (for skew: the spread of
// processed input across one stage's tasks).
type QueryDetail struct {
	QuerySummary
	FailureInfo *FailureInfo `json:"failureInfo"`
	OutputStage *Stage       `json:"outputStage"`
	// StartedTransactionID is the transaction a START TRANSACTION began.
	StartedTransactionID string `json:"startedTransactionId"`
}

// FailureInfo is why a query failed.
type FailureInfo struct {
	Type    string `json:"type"` // the Java exception class
	Message string `json:"message"`
}

// Stage is one stage of a query's plan, with its tasks and child stages.
type Stage struct {
	StageID   string  `json:"stageId"`
	State     string  `json:"state"`
	Tasks     []Task  `json:"tasks"`
	SubStages []Stage `json:"subStages"`
}

// Task is one task of a stage.
type Task struct {
	Status TaskStatus `json:"taskStatus"`
	Stats  TaskStats  `json:"stats"`
}

// TaskStatus says where a task runs and in which state.
type TaskStatus struct {
	TaskID string `json:"taskId"`
	NodeID string `json:"nodeId"`
	State  string `json:"state"`
}

// TaskStats are a task's input and output so far. Processed input counts
// the rows the task's input pipelines took in: from its splits in a
// source stage, from the exchanges of its child stages otherwise.
type TaskStats struct {
	ProcessedInputPositions int64    `json:"processedInputPositions"`
	ProcessedInputDataSize  DataSize `json:"processedInputDataSize"`
	OutputPositions         int64    `json:"outputPositions"`
	CPU                     Duration `json:"totalCpuTime"`
}

// maxStageDepth bounds the stage tree (Trino plans have a handful of
// levels; the bound stops pathological documents).
const maxStageDepth = 1000

func (s *Stage) validate(depth int) error {
	if depth > maxStageDepth {
		return fmt.Errorf("the stage tree is deeper than %d", maxStageDepth)
	}
	for _, t := range s.Tasks {
		if t.Stats.ProcessedInputPositions < 0 {
			return fmt.Errorf("stage %s: negative processedInputPositions", clip(s.StageID, 40))
		}
		if t.Stats.OutputPositions < 0 {
			return fmt.Errorf("stage %s: negative outputPositions", clip(s.StageID, 40))
		}
	}
	for i := range s.SubStages {
		if err := s.SubStages[i].validate(depth + 1); err != nil {
			return err
		}
	}
	return nil
}

// ParseQueryDetail decodes a GET /v1/query/{id} answer.
func ParseQueryDetail(b []byte) (*QueryDetail, error) {
	var d QueryDetail
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, err
	}
	if err := d.validate(); err != nil {
		return nil, err
	}
	if d.OutputStage != nil {
		if err := d.OutputStage.validate(0); err != nil {
			return nil, err
		}
	}
	return &d, nil
}

// Query reads one query's detail (GET /v1/query/{id}). A query the
// coordinator does not know (HTTP 410) is an error that errors.Is
// ErrQueryGone.
func (cl *Client) Query(ctx context.Context, baseURL, queryID string) (*QueryDetail, error) {
	c := &call{method: http.MethodGet, base: baseURL, path: "/v1/query/{queryId}",
		classify: map[int]error{http.StatusGone: ErrQueryGone}}
	if err := checkQueryID(queryID); err != nil {
		return nil, c.errorf("%w", err)
	}
	c.path = "/v1/query/" + queryID
	_, b, err := cl.do(ctx, c)
	if err != nil {
		return nil, err
	}
	d, err := ParseQueryDetail(b)
	if err != nil {
		return nil, c.errorf("decoding the answer: %w", err)
	}
	return d, nil
}

// checkQueryID refuses what is not a Trino query ID, so it cannot change
// the path it is put in.
func checkQueryID(id string) error {
	if !trino.ValidQueryID(id) {
		return fmt.Errorf("%q is not a Trino query ID (1-%d of a-z, 0-9 and _)", clip(id, 64), trino.MaxQueryIDLength)
	}
	return nil
}

package trino

import (
	"encoding/json"
)

// ErrorType is Trino's coarse error classification.
type ErrorType string

// Trino's error types.
const (
	UserError             ErrorType = "USER_ERROR"
	InternalError         ErrorType = "INTERNAL_ERROR"
	InsufficientResources ErrorType = "INSUFFICIENT_RESOURCES"
	External              ErrorType = "EXTERNAL"
)

// ErrorCode is a gateway error as Trino clients see it. Codes live in a
// range of their own (0x5359xxxx, "SY") so they never collide with Trino's.
type ErrorCode struct {
	Code int
	Name string
	Type ErrorType
}

// The errors the gateway itself raises.
var (
	ErrNoClusterAvailable  = ErrorCode{0x53590001, "NO_CLUSTER_AVAILABLE", InsufficientResources}
	ErrUnknownRoutingGroup = ErrorCode{0x53590002, "UNKNOWN_ROUTING_GROUP", UserError}
	ErrQueryTextTooLarge   = ErrorCode{0x53590003, "QUERY_TEXT_TOO_LARGE", UserError}
	ErrQueryNotFound       = ErrorCode{0x53590004, "QUERY_NOT_FOUND", UserError}
	ErrMalformedQueryID    = ErrorCode{0x53590005, "MALFORMED_QUERY_ID", UserError}
	ErrGatewayInternal     = ErrorCode{0x53590006, "GATEWAY_INTERNAL_ERROR", InternalError}
	ErrNoRoute             = ErrorCode{0x53590007, "NO_ROUTE", UserError}
	ErrCoordinatorGone     = ErrorCode{0x53590008, "COORDINATOR_UNREACHABLE", External}
	ErrGatewayUnavailable  = ErrorCode{0x53590009, "GATEWAY_UNAVAILABLE", External}
	ErrBadRequest          = ErrorCode{0x5359000a, "BAD_REQUEST", UserError}
	ErrPolicyDenied        = ErrorCode{0x5359000b, "POLICY_DENIED", UserError}
	ErrPolicyError         = ErrorCode{0x5359000c, "POLICY_ERROR", InternalError}
	ErrUnknownTransaction  = ErrorCode{0x5359000d, "UNKNOWN_TRANSACTION", UserError}
)

// QueryError is the "error" object of QueryResults.
type QueryError struct {
	Message   string    `json:"message"`
	ErrorCode int       `json:"errorCode"`
	ErrorName string    `json:"errorName"`
	ErrorType ErrorType `json:"errorType"`
}

// failedStats is the smallest "stats" object the Java client accepts.
type failedStats struct {
	State             string `json:"state"`
	Queued            bool   `json:"queued"`
	Scheduled         bool   `json:"scheduled"`
	Nodes             int    `json:"nodes"`
	TotalSplits       int    `json:"totalSplits"`
	QueuedSplits      int    `json:"queuedSplits"`
	RunningSplits     int    `json:"runningSplits"`
	CompletedSplits   int    `json:"completedSplits"`
	CPUTimeMillis     int    `json:"cpuTimeMillis"`
	WallTimeMillis    int    `json:"wallTimeMillis"`
	QueuedTimeMillis  int    `json:"queuedTimeMillis"`
	ElapsedTimeMillis int    `json:"elapsedTimeMillis"`
	ProcessedRows     int    `json:"processedRows"`
	ProcessedBytes    int    `json:"processedBytes"`
	PeakMemoryBytes   int    `json:"peakMemoryBytes"`
	SpilledBytes      int    `json:"spilledBytes"`
}

type failedResults struct {
	ID       string      `json:"id"`
	InfoURI  string      `json:"infoUri"`
	Stats    failedStats `json:"stats"`
	Error    QueryError  `json:"error"`
	Warnings []struct{}  `json:"warnings"`
}

// FailedQueryResults renders a QueryResults document in the FAILED state.
// The trino CLI, JDBC and the Python client all print its error message as
// "Query <id> failed: <message>"; this is the only shape every client
// renders readably (a non-200 status hides the message in the Java client).
// infoURI must be an absolute URI (the Java client requires one).
func FailedQueryResults(queryID, infoURI string, code ErrorCode, message string) []byte {
	b, err := json.Marshal(failedResults{
		ID:       queryID,
		InfoURI:  infoURI,
		Stats:    failedStats{State: "FAILED"},
		Error:    QueryError{Message: message, ErrorCode: code.Code, ErrorName: code.Name, ErrorType: code.Type},
		Warnings: []struct{}{},
	})
	if err != nil { // cannot happen: only strings and ints
		panic(err)
	}
	return b
}

// ErrorDocument is the JSON body of gateway errors outside the statement
// protocol (REST endpoints such as /v1/query/{id}): an HTTP status plus the
// same error object a QueryResults carries.
func ErrorDocument(code ErrorCode, message string) []byte {
	b, err := json.Marshal(struct {
		Error QueryError `json:"error"`
	}{QueryError{Message: message, ErrorCode: code.Code, ErrorName: code.Name, ErrorType: code.Type}})
	if err != nil {
		panic(err)
	}
	return b
}

// The errors of workload governance.
var (
	ErrQueryQueueFull = ErrorCode{0x5359000e, "QUERY_QUEUE_FULL", InsufficientResources}
	ErrQuotaExceeded  = ErrorCode{0x5359000f, "QUOTA_EXCEEDED", InsufficientResources}
	ErrUserCanceled   = ErrorCode{0x53590010, "USER_CANCELED", UserError}
	ErrAbandonedQuery = ErrorCode{0x53590011, "ABANDONED_QUERY", UserError}
)

// The errors of authentication. PERMISSION_DENIED is Trino's own code (a
// principal that may not impersonate the user it names).
var (
	ErrAuthenticationFailed = ErrorCode{0x53590012, "AUTHENTICATION_FAILED", UserError}
	ErrInsecureCredentials  = ErrorCode{0x53590013, "INSECURE_CREDENTIALS", UserError}
	ErrPermissionDenied     = ErrorCode{4, "PERMISSION_DENIED", UserError}
)

// ErrQueryRefused is query protection's refusal of a query before it
// runs (a cross join of large tables, a repeat of a query that blew up a
// cluster): the message is the protection policy's reason.
var ErrQueryRefused = ErrorCode{0x53590014, "QUERY_REFUSED_BY_PROTECTION", UserError}

// ErrorCodeByName finds a gateway error by its name (ok false: unknown).
func ErrorCodeByName(name string) (ErrorCode, bool) {
	for _, c := range []ErrorCode{ErrNoClusterAvailable, ErrUnknownRoutingGroup, ErrQueryTextTooLarge, ErrQueryNotFound,
		ErrMalformedQueryID, ErrGatewayInternal, ErrNoRoute, ErrCoordinatorGone, ErrGatewayUnavailable, ErrBadRequest,
		ErrPolicyDenied, ErrPolicyError, ErrUnknownTransaction, ErrQueryQueueFull, ErrQuotaExceeded, ErrUserCanceled, ErrAbandonedQuery,
		ErrAuthenticationFailed, ErrInsecureCredentials, ErrPermissionDenied, ErrQueryRefused} {
		if c.Name == name {
			return c, true
		}
	}
	return ErrorCode{}, false
}

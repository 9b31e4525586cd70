// Package trinosim is a fast, in-memory simulator of the Trino 476 client
// (statement) protocol, for benchmarks and fast tests only.
//
// A Server answers the requests a Trino client sends to a coordinator:
//
//   - POST /v1/statement registers a query and answers a QUEUED QueryResults;
//   - GET on its nextUri walks the query through QueuedPolls queued pages
//     (the last of which dispatches it and carries the columns) and Pages
//     executing pages that carry data; the last page has no nextUri and the
//     state FINISHED;
//   - DELETE on a nextUri cancels the query (USER_CANCELED);
//   - GET /v1/info, /v1/info/state, /v1/query and /v1/query/{id}.
//
// URIs are built from the forwarded headers (X-Forwarded-Proto, -Host, -Port
// and -Prefix) the way a Trino coordinator behind a proxy builds them, so the
// simulator can stand in for a coordinator behind the gateway.
//
// Query results do not depend on the SQL text: every query returns the same
// synthetic rows (a bigint column followed by varchar columns, alternating).
// Page bodies are assembled from pre-rendered fragments; only the IDs and
// URIs are written per request.
package trinosim

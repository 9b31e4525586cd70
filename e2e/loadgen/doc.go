// Package loadgen is a load generator for the Trino client protocol, used by
// the benchmark harness to drive the gateway (or a coordinator, or the
// trinosim simulator) and measure it.
//
// Each query is a POST to /v1/statement followed by GETs on nextUri until
// it is absent, on one http.Client with keep-alives. GETs answered 502, 503
// or 504 are retried like Trino clients retry them. Every request's latency
// is recorded by kind (submit, poll, and the whole query), and every error
// is counted by kind.
//
// Run drives either a closed loop (Concurrency workers, each running
// queries back to back) or an open loop (Rate queries per second started on
// a fixed schedule, capped by MaxInFlight). A warm-up period runs first;
// queries that start during it are excluded from the Results entirely.
//
// ProcStats and Sampler account the CPU time and peak memory of the
// processes under test (Linux /proc only).
package loadgen

// Package events ingests the query events of Trino's HTTP event listener:
// Parse reads one event (QueryCreated or QueryCompleted), Handler is the
// control plane's endpoint that Trino posts them to, authenticated by a
// per-cluster secret header, and hands each event to a Sink.
package events

// Path is where Trino's HTTP event listener posts events
// (http-event-listener.connect-ingest-uri).
const Path = "/events/trino"

// SecretHeader carries a cluster's event secret
// (http-event-listener.connect-http-headers); the secret names the cluster.
const SecretHeader = "X-Switchyard-Event-Secret"

package trinosim

import (
	"net/http"
	"time"
)

// Options configures a Server. Zero or negative values select the defaults.
type Options struct {
	// Pages is the number of executing pages that carry data (default 3).
	Pages int
	// RowsPerPage is the number of rows on each data page (default 100).
	RowsPerPage int
	// Columns is the number of result columns (default 4); even columns
	// are bigint, odd columns varchar.
	Columns int
	// QueuedPolls is the number of GETs on queued URIs a query answers
	// before it moves to executing URIs (default 1, minimum 1). The last
	// queued GET dispatches the query and returns the columns.
	QueuedPolls int
	// Delay is added to every request. It ends early, without an answer,
	// when the request's context is cancelled.
	Delay time.Duration
	// Retention is how long a finished, failed or cancelled query stays
	// visible (default 5m). A query nobody has polled for Retention is
	// dropped too, like an abandoned query in Trino.
	Retention time.Duration
	// MaxHistory bounds the number of finished, failed and cancelled
	// queries kept (default 20000), oldest dropped first, so memory stays
	// bounded at any query rate.
	MaxHistory int
	// Name, when set, is sent in the X-Trinosim-Name header of every
	// response so tests can tell which backend answered.
	Name string
	// FailQuery, when set, is called with the SQL text of every submitted
	// query; queries for which it returns true fail on dispatch with a
	// SYNTAX_ERROR, as an invalid statement does in Trino.
	FailQuery func(sql string) bool
	// Now is the clock (default time.Now); tests inject their own.
	Now func() time.Time

	// EventsURL, when set, is where the server posts query events the way
	// Trino's HTTP event listener does (http-event-listener.connect-ingest-uri,
	// the JSON of Trino 476): a QueryCompletedEvent when a query finishes,
	// fails, is canceled or is abandoned, and with EventsCreated a
	// QueryCreatedEvent when it is submitted. Events are posted from a
	// bounded queue by EventWorkers workers, never on the protocol path;
	// an event that finds the queue full is dropped and counted
	// (EventStats). Call Close to send what is queued and stop the workers.
	EventsURL string
	// EventSecret is sent in the EventSecretHeader of every event: the
	// cluster's secret in the gateway's events.secrets.
	EventSecret string
	// EventsCreated also posts a QueryCreatedEvent per submission.
	EventsCreated bool
	// EventQueue bounds the events waiting to be posted (default 10000).
	EventQueue int
	// EventWorkers is the number of events posted at once (default 4).
	EventWorkers int
	// EventClient posts the events (default: keep-alive connections, a
	// 10 s timeout per event).
	EventClient *http.Client
}

// The defaults of Options.
const (
	DefaultPages       = 3
	DefaultRowsPerPage = 100
	DefaultColumns     = 4
	DefaultQueuedPolls = 1
	DefaultRetention   = 5 * time.Minute
	DefaultMaxHistory  = 20000
)

func (o Options) withDefaults() Options {
	if o.Pages <= 0 {
		o.Pages = DefaultPages
	}
	if o.RowsPerPage <= 0 {
		o.RowsPerPage = DefaultRowsPerPage
	}
	if o.Columns <= 0 {
		o.Columns = DefaultColumns
	}
	if o.QueuedPolls <= 0 {
		o.QueuedPolls = DefaultQueuedPolls
	}
	if o.Delay < 0 {
		o.Delay = 0
	}
	if o.Retention <= 0 {
		o.Retention = DefaultRetention
	}
	if o.MaxHistory <= 0 {
		o.MaxHistory = DefaultMaxHistory
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.EventQueue <= 0 {
		o.EventQueue = DefaultEventQueue
	}
	if o.EventWorkers <= 0 {
		o.EventWorkers = DefaultEventWorkers
	}
	return o
}

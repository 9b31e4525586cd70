package trino

// Request headers of the Trino client protocol that the gateway reads.
const (
	HeaderUser          = "x-trino-user"
	HeaderSource        = "x-trino-source"
	HeaderClientTags    = "x-trino-client-tags"
	HeaderClientInfo    = "x-trino-client-info"
	HeaderCatalog       = "x-trino-catalog"
	HeaderSchema        = "x-trino-schema"
	HeaderSession       = "x-trino-session"
	HeaderTransactionID = "x-trino-transaction-id"
	// HeaderRoutingGroup is Trino Gateway's convention for asking for a
	// routing group; Switchyard honours it.
	HeaderRoutingGroup = "x-trino-routing-group"
)

// Headers of client sessions.
const (
	// HeaderPreparedStatement carries a session's prepared statements on
	// every request: a comma list of name=sql, both URL-encoded.
	HeaderPreparedStatement = "x-trino-prepared-statement"
	// HeaderAddedPrepare, on a response, adds one prepared statement to
	// the client's session (name=sql, URL-encoded).
	HeaderAddedPrepare = "x-trino-added-prepare"
	// HeaderClientSession and HeaderExternalSession name a client session
	// explicitly (a tool's own session ID; the second is the name Trino
	// Gateway proposes). Not Trino headers: coordinators ignore them.
	HeaderClientSession   = "x-trino-client-session"
	HeaderExternalSession = "x-external-session-id"
)

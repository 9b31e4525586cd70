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

// Package metadata tells query protection what is known about the tables a
// statement names: row count, size in bytes, a size class (small, medium,
// large, huge), tags and owner. Policy reads it per table
// (input.query.tableInfo); a number that is not known is left out, never
// written as 0.
//
// Table names are lower-case catalog.schema.table, as package sqlclass
// writes them (a part containing '.' or '"' is double-quoted).
//
// # Sources
//
// Three sources answer behind one interface (Source):
//
//   - PolicyData: the policy's own data.switchyard.tables (size, tags,
//     owner, optional rows and bytes), what operators wrote down. It is
//     in memory, so it is asked on every lookup and never cached: a policy
//     reload shows at once.
//   - Trino: SHOW STATS FOR "catalog"."schema"."table" on a designated
//     cluster, through the coordinator client. The summary row's row_count
//     is the row count; the size is the sum of the columns' data_size,
//     which many connectors leave NULL for fixed-width columns, so it is a
//     lower bound when some columns lack it and unknown when all do. A
//     table Trino answers with a user error (TABLE_NOT_FOUND...) is
//     unknown. Tables are asked 4 at a time.
//   - OpenMetadata: a metadata catalog's REST API,
//     GET /api/v1/tables/name/{service.database.schema.table}?fields=tags,owners
//     (with a bearer token when configured), and optionally
//     GET /api/v1/tables/{fqn}/tableProfile/latest for the profiler's
//     rowCount and sizeInByte. It follows the Table entity of OpenMetadata
//     1.x: "owners", a list of entity references, from 1.5 on, and the
//     single "owner" reference before (both shapes are read; the field
//     asked for is configurable, since a server refuses a field it does
//     not have); tags are TagLabels whose tagFQN is used (e.g.
//     "PII.Sensitive"); a 404 means the table is unknown. Name parts are
//     quoted as OpenMetadata's FullyQualifiedName.quoteName does (a part
//     with '.' in double quotes) and each part is path-escaped. The Trino
//     catalog maps to an OpenMetadata service and database, both the
//     catalog's name unless configured (OpenMetadata's Trino connector
//     models a catalog as a database).
//
// # Cache
//
// A Catalog caches each source's answer per table: for TTL (default 10m)
// when the source knew the table, for NegativeTTL (default min(TTL, 1m))
// when it did not, so a new table is seen within a minute, and for
// FailureTTL (default 5s) before asking again after a failed call. An
// expired answer is still served while one background call refreshes it
// (stale-while-revalidate), so a table, once known, never waits on a
// source again. Lookups that need the same (source, table) at the same
// time share one call. Each source has at most MaxInFlight calls at once
// (default 4) and at most MaxEntries cached tables (default 10000).
//
// Answers are merged in source order (put PolicyData first): tags are
// unioned, the owner and the row count and size come from the first source
// that has them, an explicit size class (policy data's "size") wins over
// one derived from rows and bytes with SizeClasses (the larger class of
// the two). Table.Sources says who answered.
//
// # Timeout guarantee
//
// Catalog.Lookup never fails and returns within Options.Timeout (default
// 300ms) or when its context ends, whichever is first: it waits for the
// sources' calls only that long. A call that takes longer goes on in the
// background (up to FetchTimeout, default 10s) and its answer is cached
// for the next lookup; a failing or panicking source is left out of the
// answer and counted (Catalog.Stats). In-memory sources (PolicyData) are
// called inline and must not block. Close ends the background calls and
// waits for them.
package metadata

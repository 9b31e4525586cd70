// Package sqlclass classifies Trino SQL text for routing policy.
//
// It is not a parser: a careful tokenizer (comments, string literals,
// quoted identifiers) feeds a small amount of structure (statement heads,
// parenthesised sub-queries, FROM clauses, CTE scopes) that is enough to
// tell the statement type, the tables it names and a few query shape
// flags. Classify never panics, runs in time linear in the input and stops
// at fixed work limits, reporting Truncated when it does.
package sqlclass

import "slices"

// Statement types reported in Result.Type and Result.Inner.
const (
	TypeSelect         = "SELECT"          // queries: SELECT, VALUES, TABLE t, WITH ..., (query)
	TypeInsert         = "INSERT"          // INSERT INTO
	TypeCreateTableAs  = "CREATE_TABLE_AS" // CREATE TABLE ... AS query
	TypeCreateTable    = "CREATE_TABLE"    // CREATE TABLE with column definitions (or LIKE)
	TypeCreateView     = "CREATE_VIEW"     // CREATE [OR REPLACE] VIEW
	TypeDDL            = "DDL"             // other CREATE/ALTER/DROP/COMMENT/TRUNCATE/GRANT/REVOKE/DENY/REFRESH/ANALYZE
	TypeDelete         = "DELETE"          // DELETE FROM
	TypeUpdate         = "UPDATE"          // UPDATE
	TypeMerge          = "MERGE"           // MERGE INTO
	TypeExplain        = "EXPLAIN"         // EXPLAIN [(options)] statement
	TypeExplainAnalyze = "EXPLAIN_ANALYZE" // EXPLAIN ANALYZE [VERBOSE] statement
	TypeShow           = "SHOW"            // SHOW ..., DESCRIBE/DESC (including DESCRIBE INPUT/OUTPUT)
	TypeCall           = "CALL"            // CALL procedure(...)
	TypeSetSession     = "SET_SESSION"     // SET/RESET SESSION, SET ROLE, SET PATH, SET TIME ZONE, [RE]SET SESSION AUTHORIZATION
	TypePrepare        = "PREPARE"         // PREPARE name FROM statement
	TypeExecute        = "EXECUTE"         // EXECUTE, EXECUTE IMMEDIATE, DEALLOCATE PREPARE
	TypeTransaction    = "TRANSACTION"     // START TRANSACTION, COMMIT, ROLLBACK
	TypeUse            = "USE"             // USE [catalog.]schema
	TypeUnknown        = "UNKNOWN"         // empty or unrecognised
)

// Values of Result.Explain.
const (
	ExplainPlain   = "EXPLAIN"
	ExplainAnalyze = "EXPLAIN ANALYZE"
)

// Work limits. Classification stops at these and sets Result.Truncated.
const (
	// MaxTokens caps the tokens examined (plus CTE name comparisons, which
	// are charged to the same budget).
	MaxTokens = 1_000_000
	// MaxTables caps the distinct names recorded in Tables and, separately,
	// in Unresolved.
	MaxTables = 1000
	// maxDepth caps nested parentheses that are tracked; deeper ones are
	// skipped (only counted).
	maxDepth = 1000
	// maxNest caps EXECUTE IMMEDIATE statements nested in one another.
	maxNest = 2
	// maxWrappers caps EXPLAIN/PREPARE/EXECUTE IMMEDIATE prefixes.
	maxWrappers = 4
	// maxInput caps the bytes examined (token offsets are 32-bit).
	maxInput = 1<<31 - 1
)

// Options give the defaults the client's session supplies.
type Options struct {
	Catalog string // from X-Trino-Catalog
	Schema  string // from X-Trino-Schema
}

// Result is the classification of one SQL statement. It is meant to be
// marshalled to JSON and read by policy (OPA/Rego).
type Result struct {
	// Type is the statement type, one of the Type* constants.
	Type string `json:"type"`
	// Tables are the tables the statement names, as catalog.schema.table,
	// sorted and unique. Identifiers are lower-cased, quoted ones too (as
	// Trino folds them); session defaults fill in missing parts. A part that
	// contains '.' or '"' is written as a double-quoted identifier (with ""
	// escapes), so splitting on unquoted dots always gives three parts.
	// Names of CTEs and table functions (UNNEST, TABLE(...)) are not
	// tables, but TABLE(name) arguments of table functions are. Never nil.
	// The strings may share memory with the classified SQL text.
	Tables []string `json:"tables"`
	// CrossJoin is set by an explicit CROSS JOIN, or a comma join (FROM a,
	// b) in a query block that has no WHERE clause. Joins with UNNEST(...),
	// LATERAL (...) and JSON_TABLE(...), which are normally correlated with
	// the left side, do not count; tables, sub-queries and TABLE(...)
	// function calls do.
	CrossJoin bool `json:"crossJoin"`
	// HasWhere is set when any query block (or DELETE/UPDATE) has a WHERE
	// clause, sub-queries included. The WHERE of an aggregate's FILTER
	// (WHERE ...) does not count. Blocks says which block has one.
	HasWhere bool `json:"hasWhere"`
	// HasLimit is set when the outermost query has LIMIT n or FETCH
	// FIRST/NEXT ... (LIMIT ALL does not count).
	HasLimit bool `json:"hasLimit"`
	// Blocks are the query blocks that read relations, in the order they
	// end (inner blocks before the blocks that contain them), at most
	// MaxBlocks (nil: none).
	Blocks []Block `json:"blocks,omitempty"`
	// FullScans are the tables read by a block that has neither a WHERE
	// nor a LIMIT: scanned whole unless the connector prunes them. (A
	// WHERE counts as a filter on every table of its block.)
	FullScans []string `json:"fullScans,omitempty"`
	// QueryStart and QueryEnd delimit, for INSERT and CREATE TABLE AS, the
	// query that produces the rows (byte offsets in the SQL text), so that
	// it can be estimated without running the write; both 0 otherwise.
	QueryStart int `json:"-"`
	QueryEnd   int `json:"-"`
	// Explain is "", "EXPLAIN" or "EXPLAIN ANALYZE".
	Explain string `json:"explain,omitempty"`
	// Inner is the type of the wrapped statement for EXPLAIN, EXPLAIN
	// ANALYZE, PREPARE and EXECUTE IMMEDIATE.
	Inner string `json:"innerType,omitempty"`
	// Unresolved are table names that could not be qualified because a
	// needed session default is empty (or that have more than three parts
	// or an empty part), as written, sorted and unique.
	Unresolved []string `json:"unresolved,omitempty"`
	// Truncated is set when classification stopped early at a work limit;
	// the other fields then describe only the part that was examined.
	Truncated bool `json:"truncated,omitempty"`
}

// Classify classifies the first statement in sql. It never panics and
// runs in time linear in len(sql), bounded by the work limits.
func Classify(sql string, o Options) Result {
	budget := MaxTokens
	return classify(sql, o, 0, &budget)
}

// classifier holds the state of one classification.
type classifier struct {
	lx      lexer
	src     string
	opts    Options
	catalog string // normalised default catalog
	schema  string // normalised default schema
	nest    int

	stack     frameStack
	overflow  int // '(' nested beyond maxDepth still open
	ctes      []string
	prev      token // previous token seen by the scan loop
	nextParen parenHint
	sawFirst  bool    // a token other than '(' has been seen
	firstKw   keyword // that token's keyword

	tables     strset
	unresolved strset
	seen       []string  // tables named as relations, in order (duplicates kept)
	inputs     []input   // the relations of the open blocks, innermost last
	blocks     []Block   // finished blocks
	cteSpans   []span    // what each CTE in c.ctes reads
	scratch    [256]byte // buffer for building names

	wrappers    [maxWrappers]string // EXPLAIN/PREPARE/EXECUTE prefixes, outermost first
	nwrap       int
	stmt        string // type of the innermost statement
	parenStmt   bool   // the statement starts with '('
	merge       bool   // MERGE: WHEN ends the USING clause
	waitAs      bool   // CREATE TABLE/VIEW: the query starts after AS
	createTable bool   // CREATE TABLE: AS makes it CREATE_TABLE_AS; LIKE t names a table

	crossJoin  bool
	queryStart int // see Result.QueryStart
	queryEnd   int
	before     int32 // end of the token before the one being scanned
	hasWhere   bool
	hasLimit   bool
	truncated  bool
}

// classify runs one classifier over sql. nest counts enclosing EXECUTE
// IMMEDIATE statements; budget is the shared work budget.
func classify(sql string, o Options, nest int, budget *int) Result {
	var c classifier
	if len(sql) > maxInput {
		sql = sql[:maxInput]
		c.truncated = true
	}
	c.lx = lexer{src: sql, budget: *budget}
	c.src = sql
	c.nest = nest
	c.catalog = normDefault(o.Catalog)
	c.schema = normDefault(o.Schema)
	c.opts = o
	c.statement()
	*budget = c.lx.budget
	return c.result()
}

// result assembles the Result from the classifier's state.
func (c *classifier) result() Result {
	r := Result{
		CrossJoin: c.crossJoin,
		HasWhere:  c.hasWhere,
		HasLimit:  c.hasLimit,
		Truncated: c.truncated || c.lx.truncated,
	}
	stmt := c.stmt
	if stmt == "" {
		stmt = TypeUnknown
	}
	switch {
	case c.nwrap == 0:
		r.Type = stmt
	case c.nwrap == 1:
		r.Type, r.Inner = c.wrappers[0], stmt
	default:
		r.Type, r.Inner = c.wrappers[0], c.wrappers[1]
	}
	switch r.Type {
	case TypeExplain:
		r.Explain = ExplainPlain
	case TypeExplainAnalyze:
		r.Explain = ExplainAnalyze
	}
	r.Blocks = c.blocks
	r.FullScans = fullScans(r.Blocks)
	r.QueryStart, r.QueryEnd = c.queryStart, c.queryEnd
	r.Tables = c.tables.list
	if r.Tables == nil {
		r.Tables = []string{}
	}
	slices.Sort(r.Tables)
	if len(c.unresolved.list) > 0 {
		r.Unresolved = c.unresolved.list
		slices.Sort(r.Unresolved)
	}
	return r
}

// statementTypeTokens is how many tokens StatementType reads: enough for
// any statement's leading keywords (EXPLAIN options, CREATE ... AS).
const statementTypeTokens = 64

// StatementType is the Type Classify would give, read from the
// statement's first tokens only (cheap on long SQL, for callers that need
// no tables). When those tokens do not settle it, the answer is the type
// so far (a CREATE TABLE whose AS comes later reads as CREATE_TABLE) or
// UNKNOWN, never a read where Classify finds a write.
func StatementType(sql string, o Options) string {
	budget := statementTypeTokens
	return classify(sql, o, 0, &budget).Type
}

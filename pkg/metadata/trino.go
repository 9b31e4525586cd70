package metadata

import (
	"context"
	"errors"
	"strings"

	"github.com/switchyard-gw/switchyard/pkg/coordinator"
	"github.com/switchyard-gw/switchyard/pkg/trino"
)

// Defaults of Trino.
const (
	DefaultTrinoUser     = "switchyard"
	DefaultTrinoSource   = "switchyard-metadata"
	DefaultTrinoParallel = 4
)

// Trino answers from table statistics: SHOW STATS FOR catalog.schema.table
// on a designated cluster. The summary row (column_name NULL) gives the row
// count; the size is the sum of the columns' data_size. Many connectors
// report data_size only for variable-width columns (NULL for fixed-width
// ones), so the size is a lower bound of the data when some columns lack
// it, and unknown when none has it. Statistics that are NULL are unknown.
type Trino struct {
	// Coordinator returns the base URL of a healthy coordinator of the
	// designated cluster (false: none; the lookup fails).
	Coordinator func() (string, bool)
	// Client runs the statements (required).
	Client *coordinator.Client
	// User is the session user (default "switchyard"); it needs to see the
	// tables' statistics.
	User string
	// Source is the X-Trino-Source (default "switchyard-metadata").
	Source string
	// Parallel bounds the statements one lookup runs at once (default 4).
	Parallel int
}

// Name is "trino".
func (t *Trino) Name() string { return "trino" }

// Lookup runs SHOW STATS for each table, Parallel at a time. A table Trino
// answers with a user error for (TABLE_NOT_FOUND, SCHEMA_NOT_FOUND,
// CATALOG_NOT_FOUND, PERMISSION_DENIED, NOT_SUPPORTED...) is absent; a
// name that is not catalog.schema.table is absent without asking. Other
// failures are errors for their table only.
func (t *Trino) Lookup(ctx context.Context, tables []string) (map[string]Table, error) {
	if t.Client == nil || t.Coordinator == nil {
		return nil, errors.New("trino metadata: no client or coordinator configured")
	}
	base, ok := t.Coordinator()
	if !ok {
		return nil, errors.New("trino metadata: no healthy coordinator in the designated cluster")
	}
	session := coordinator.Session{User: t.User, Source: t.Source}
	if session.User == "" {
		session.User = DefaultTrinoUser
	}
	if session.Source == "" {
		session.Source = DefaultTrinoSource
	}
	parallel := t.Parallel
	if parallel <= 0 {
		parallel = DefaultTrinoParallel
	}

	return eachTable(ctx, tables, parallel, func(ctx context.Context, p [3]string) (Table, bool, error) {
		return t.stats(ctx, base, p, session)
	})
}

// showStatsSQL is the statement that asks for a table's statistics, each
// part quoted as an identifier.
func showStatsSQL(catalog, schema, table string) string {
	return "SHOW STATS FOR " + trinoIdent(catalog) + "." + trinoIdent(schema) + "." + trinoIdent(table)
}

// stats asks for one table; found is false when Trino does not know it.
func (t *Trino) stats(ctx context.Context, base string, p [3]string, s coordinator.Session) (Table, bool, error) {
	res, err := t.Client.Execute(ctx, base, showStatsSQL(p[0], p[1], p[2]), s)
	var qe *coordinator.QueryError
	if errors.As(err, &qe) && qe.ErrorType == trino.UserError {
		return Table{}, false, nil
	}
	if err != nil {
		return Table{}, false, err
	}
	return parseStats(res), true, nil
}

// The columns of SHOW STATS, in the order Trino returns them.
var statsColumns = []string{"column_name", "data_size", "distinct_values_count", "nulls_fraction", "row_count", "low_value", "high_value"}

// parseStats reads SHOW STATS output (columns found by name, by position
// when the result names none).
func parseStats(res *coordinator.Result) Table {
	idx := map[string]int{}
	for i, c := range res.Columns {
		idx[strings.ToLower(c.Name)] = i
	}
	if len(idx) == 0 {
		for i, c := range statsColumns {
			idx[c] = i
		}
	}
	cell := func(row []any, col string) any {
		i, ok := idx[col]
		if !ok || i >= len(row) {
			return nil
		}
		return row[i]
	}
	var t Table
	var bytes float64
	sized := false
	for _, row := range res.Rows {
		if cell(row, "column_name") == nil { // the summary row
			t.Rows, t.RowsKnown = number(cell(row, "row_count"))
			continue
		}
		if n, ok := number(cell(row, "data_size")); ok {
			bytes += n
			sized = true
		}
	}
	if sized {
		t.Bytes, t.BytesKnown = bytes, true
	}
	return t
}

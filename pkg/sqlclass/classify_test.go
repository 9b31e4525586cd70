package sqlclass

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// defaults are the session defaults used by cases that do not set opts.
var defaults = Options{Catalog: "hive", Schema: "web"}

// tables builds an expected Tables value (never nil).
func tables(names ...string) []string {
	if names == nil {
		return []string{}
	}
	return names
}

func TestClassify(t *testing.T) {
	noDefaults := &Options{}
	catalogOnly := &Options{Catalog: "hive"}
	schemaOnly := &Options{Schema: "web"}

	cases := []struct {
		name string
		sql  string
		opts *Options // nil: defaults
		want Result
	}{
		// --- Comments, case, literals ---------------------------------
		{
			name: "simple select",
			sql:  "SELECT * FROM orders",
			want: Result{Type: TypeSelect, Tables: tables("hive.web.orders")},
		},
		{
			name: "line comment before statement",
			sql:  "-- DROP TABLE x\nSELECT a FROM t",
			want: Result{Type: TypeSelect, Tables: tables("hive.web.t")},
		},
		{
			name: "block comment before statement",
			sql:  "/* DELETE FROM victims */ SELECT a FROM t",
			want: Result{Type: TypeSelect, Tables: tables("hive.web.t")},
		},
		{
			name: "line comment marker inside block comment",
			sql:  "/* -- */ DELETE FROM t",
			want: Result{Type: TypeDelete, Tables: tables("hive.web.t")},
		},
		{
			name: "block comments do not nest",
			sql:  "/* /* */ SELECT 1 FROM t /* */",
			want: Result{Type: TypeSelect, Tables: tables("hive.web.t")},
		},
		{
			name: "block comment marker inside line comment",
			sql:  "-- /* \nUPDATE t SET a = 1 -- */ WHERE b = 2",
			want: Result{Type: TypeUpdate, Tables: tables("hive.web.t")},
		},
		{
			name: "comments between name parts and clauses",
			sql:  "SELECT a FROM /* c */ hive . /* s */ sales . orders -- tail\n WHERE x = 1",
			want: Result{Type: TypeSelect, Tables: tables("hive.sales.orders"), HasWhere: true},
		},
		{
			name: "mixed case keywords and names",
			sql:  "sElEcT A fRoM Sales.Orders WhErE x = 1 LiMiT 5",
			want: Result{Type: TypeSelect, Tables: tables("hive.sales.orders"), HasWhere: true, HasLimit: true},
		},
		{
			name: "keywords inside string literals are ignored",
			sql:  "SELECT 'DROP TABLE x; DELETE FROM y WHERE 1=1', 'it''s FROM z' FROM t",
			want: Result{Type: TypeSelect, Tables: tables("hive.web.t")},
		},
		{
			name: "comment markers inside strings",
			sql:  "SELECT '-- not a comment', '/* nor this' FROM t WHERE s = '*/'",
			want: Result{Type: TypeSelect, Tables: tables("hive.web.t"), HasWhere: true},
		},
		{
			name: "quoted identifiers with dots and spaces",
			sql:  `SELECT * FROM "my.schema"."my table"`,
			want: Result{Type: TypeSelect, Tables: tables(`hive."my.schema".my table`)},
		},
		{
			name: "quoted identifiers fold to lower case like Trino's",
			sql:  `SELECT * FROM "Cat"."Sch"."Tab" JOIN Cat.Sch.Tab ON true JOIN "ORDERS" ON true`,
			want: Result{Type: TypeSelect, Tables: tables("cat.sch.tab", "hive.web.orders")},
		},
		{
			name: "quoted identifier with escaped quote",
			sql:  `SELECT * FROM "we""ird"`,
			want: Result{Type: TypeSelect, Tables: tables(`hive.web."we""ird"`)},
		},
		{
			name: "quoted reserved word as table",
			sql:  `SELECT "select" FROM "from"."table"`,
			want: Result{Type: TypeSelect, Tables: tables("hive.from.table")},
		},
		{
			name: "backquoted identifiers",
			sql:  "SELECT * FROM `My`.`t`",
			want: Result{Type: TypeSelect, Tables: tables("hive.my.t")},
		},
		{
			name: "unicode identifiers and literals",
			sql:  "SELECT 'naïve — ünïcödé 日本語' AS s FROM Données.Café, \"Straße\" WHERE x = 'Ω'",
			want: Result{Type: TypeSelect, Tables: tables("hive.données.café", "hive.web.straße"), HasWhere: true},
		},
		{
			name: "multi-line statement",
			sql: `
				SELECT
					o.id,
					c.name
				FROM
					sales.orders o
					JOIN sales.customers c
						ON o.cust = c.id
				WHERE
					o.total > 100
				ORDER BY 1
			`,
			want: Result{Type: TypeSelect, Tables: tables("hive.sales.customers", "hive.sales.orders"), HasWhere: true},
		},
		{
			name: "numbers of every shape",
			sql:  "SELECT 0x1F, 1e-5, .5, 1_000, 2.5E+3 FROM t",
			want: Result{Type: TypeSelect, Tables: tables("hive.web.t")},
		},

		// --- CTEs -----------------------------------------------------
		{
			name: "CTE shadowing a real table",
			sql:  "WITH orders AS (SELECT * FROM orders WHERE total > 0) SELECT * FROM orders",
			want: Result{Type: TypeSelect, Tables: tables("hive.web.orders"), HasWhere: true},
		},
		{
			name: "CTE names are not tables",
			sql: `WITH a AS (SELECT * FROM t1),
			           b (x, y) AS (SELECT a.x, t2.y FROM a JOIN t2 ON a.id = t2.id)
			      SELECT * FROM b, a WHERE b.x = a.x`,
			want: Result{Type: TypeSelect, Tables: tables("hive.web.t1", "hive.web.t2"), HasWhere: true},
		},
		{
			name: "qualified name is never a CTE",
			sql:  "WITH t AS (SELECT 1) SELECT * FROM web.t, t",
			want: Result{Type: TypeSelect, Tables: tables("hive.web.t"), CrossJoin: true},
		},
		{
			name: "recursive CTE",
			sql:  "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 10) SELECT * FROM r",
			want: Result{Type: TypeSelect, Tables: tables(), HasWhere: true},
		},
		{
			name: "CTE scope ends with its query",
			sql:  "SELECT * FROM (WITH x AS (SELECT 1) SELECT * FROM x) s JOIN x ON true",
			want: Result{Type: TypeSelect, Tables: tables("hive.web.x")},
		},
		{
			name: "quoted CTE name folds like Trino's",
			sql:  `WITH "A" AS (SELECT 1) SELECT * FROM "A" JOIN a ON true JOIN b ON true`,
			want: Result{Type: TypeSelect, Tables: tables("hive.web.b")},
		},
		{
			name: "CTE with limit is not the outermost limit",
			sql:  "WITH x AS (SELECT * FROM t LIMIT 5) SELECT * FROM x",
			want: Result{Type: TypeSelect, Tables: tables("hive.web.t")},
		},

		// --- Sub-queries ----------------------------------------------
		{
			name: "nested sub-queries in FROM, WHERE and SELECT",
			sql: `SELECT (SELECT max(x) FROM t2) AS m
			      FROM (SELECT * FROM (SELECT * FROM t1) a) b
			      WHERE b.id IN (SELECT id FROM t3 WHERE y IN (SELECT y FROM t4))
			        AND EXISTS (SELECT 1 FROM t5)`,
			want: Result{Type: TypeSelect, Tables: tables("hive.web.t1", "hive.web.t2", "hive.web.t3", "hive.web.t4", "hive.web.t5"), HasWhere: true},
		},
		{
			name: "parenthesised join",
			sql:  "SELECT * FROM (a JOIN b ON a.id = b.id) JOIN (c CROSS JOIN d) ON true",
			want: Result{Type: TypeSelect, Tables: tables("hive.web.a", "hive.web.b", "hive.web.c", "hive.web.d"), CrossJoin: true},
		},
		{
			name: "parenthesised query",
			sql:  "(((SELECT a FROM t)))",
			want: Result{Type: TypeSelect, Tables: tables("hive.web.t")},
		},
		{
			name: "subquery as a table argument",
			sql:  "SELECT * FROM t WHERE x IN (TABLE u)",
			want: Result{Type: TypeSelect, Tables: tables("hive.web.t", "hive.web.u"), HasWhere: true},
		},

		// --- Joins ----------------------------------------------------
		{
			name: "joins of all kinds",
			sql: `SELECT * FROM a
			      LEFT OUTER JOIN b ON a.id = b.id
			      RIGHT JOIN c USING (id)
			      FULL JOIN d ON (d.id = a.id)
			      NATURAL JOIN e
			      INNER JOIN f ON f.id = a.id
			      LEFT JOIN LATERAL (SELECT * FROM g WHERE g.id = a.id) lg ON true`,
			want: Result{Type: TypeSelect, Tables: tables("hive.web.a", "hive.web.b", "hive.web.c", "hive.web.d", "hive.web.e", "hive.web.f", "hive.web.g"), HasWhere: true},
		},
		{
			name: "explicit cross join",
			sql:  "SELECT * FROM a CROSS JOIN b WHERE a.x = b.x",
			want: Result{Type: TypeSelect, Tables: tables("hive.web.a", "hive.web.b"), CrossJoin: true, HasWhere: true},
		},
		{
			name: "comma join without WHERE",
			sql:  "SELECT * FROM a AS x, b y",
			want: Result{Type: TypeSelect, Tables: tables("hive.web.a", "hive.web.b"), CrossJoin: true},
		},
		{
			name: "comma join with WHERE",
			sql:  "SELECT * FROM a AS x, b y WHERE x.id = y.id",
			want: Result{Type: TypeSelect, Tables: tables("hive.web.a", "hive.web.b"), HasWhere: true},
		},
		{
			name: "comma join in a sub-query without its own WHERE",
			sql:  "SELECT * FROM (SELECT * FROM a, b) s WHERE s.x = 1",
			want: Result{Type: TypeSelect, Tables: tables("hive.web.a", "hive.web.b"), CrossJoin: true, HasWhere: true},
		},
		{
			name: "comma join in a union branch with WHERE",
			sql:  "SELECT * FROM a, b WHERE a.id = b.id UNION ALL SELECT * FROM c",
			want: Result{Type: TypeSelect, Tables: tables("hive.web.a", "hive.web.b", "hive.web.c"), HasWhere: true},
		},
		{
			name: "comma join in a union branch without WHERE",
			sql:  "SELECT * FROM c WHERE c.x = 1 UNION ALL SELECT * FROM a, b",
			want: Result{Type: TypeSelect, Tables: tables("hive.web.a", "hive.web.b", "hive.web.c"), CrossJoin: true, HasWhere: true},
		},
		{
			name: "cross join unnest is not a cross join",
			sql:  "SELECT t.id, x FROM t CROSS JOIN UNNEST(t.arr) WITH ORDINALITY AS u(x, n)",
			want: Result{Type: TypeSelect, Tables: tables("hive.web.t")},
		},
		{
			name: "comma unnest and lateral are not cross joins",
			sql:  "SELECT * FROM t, UNNEST(t.arr) AS u(x), LATERAL (SELECT * FROM v WHERE v.id = t.id)",
			want: Result{Type: TypeSelect, Tables: tables("hive.web.t", "hive.web.v"), HasWhere: true},
		},

		// --- Table functions and FROM inside functions ----------------
		{
			name: "unnest is not a table",
			sql:  "SELECT * FROM UNNEST(ARRAY[1, 2, 3]) AS t(x)",
			want: Result{Type: TypeSelect, Tables: tables()},
		},
		{
			name: "table function is not a table",
			sql:  "SELECT * FROM TABLE(system.query(query => 'SELECT * FROM secret'))",
			want: Result{Type: TypeSelect, Tables: tables()},
		},
		{
			name: "table argument of a table function is a table",
			sql:  "SELECT * FROM TABLE(exclude_columns(input => TABLE(sales.orders), columns => DESCRIPTOR(a, b)))",
			want: Result{Type: TypeSelect, Tables: tables("hive.sales.orders")},
		},
		{
			name: "FROM inside EXTRACT, SUBSTRING, TRIM and IS DISTINCT FROM",
			sql: `SELECT EXTRACT(YEAR FROM d), SUBSTRING(s FROM 1 FOR 2), TRIM(BOTH ' ' FROM x),
			             a IS NOT DISTINCT FROM b
			      FROM t WHERE a IS DISTINCT FROM b`,
			want: Result{Type: TypeSelect, Tables: tables("hive.web.t"), HasWhere: true},
		},
		{
			name: "aggregate FILTER (WHERE) is not a WHERE clause",
			sql:  "SELECT count(*) FILTER (WHERE x > 0) FROM t",
			want: Result{Type: TypeSelect, Tables: tables("hive.web.t")},
		},
		{
			name: "WINDOW clause commas are not joins",
			sql:  "SELECT rank() OVER w FROM t WINDOW w AS (PARTITION BY a), w2 AS (ORDER BY b)",
			want: Result{Type: TypeSelect, Tables: tables("hive.web.t")},
		},
		{
			name: "time travel and sampling",
			sql:  "SELECT * FROM t FOR TIMESTAMP AS OF TIMESTAMP '2024-01-01 00:00:00' TABLESAMPLE BERNOULLI (10)",
			want: Result{Type: TypeSelect, Tables: tables("hive.web.t")},
		},

		// --- LIMIT / FETCH --------------------------------------------
		{
			name: "fetch first",
			sql:  "SELECT * FROM t ORDER BY a OFFSET 10 ROWS FETCH FIRST 5 ROWS ONLY",
			want: Result{Type: TypeSelect, Tables: tables("hive.web.t"), HasLimit: true},
		},
		{
			name: "limit only in a sub-query",
			sql:  "SELECT * FROM (SELECT * FROM t LIMIT 10) s",
			want: Result{Type: TypeSelect, Tables: tables("hive.web.t")},
		},
		{
			name: "limit in a parenthesised whole query",
			sql:  "(SELECT * FROM t LIMIT 10)",
			want: Result{Type: TypeSelect, Tables: tables("hive.web.t"), HasLimit: true},
		},
		{
			name: "limit in one union branch only",
			sql:  "(SELECT a FROM t LIMIT 1) UNION ALL (SELECT a FROM u LIMIT 1)",
			want: Result{Type: TypeSelect, Tables: tables("hive.web.t", "hive.web.u")},
		},
		{
			name: "limit after a union",
			sql:  "SELECT a FROM t UNION SELECT a FROM u ORDER BY a LIMIT ?",
			want: Result{Type: TypeSelect, Tables: tables("hive.web.t", "hive.web.u"), HasLimit: true},
		},
		{
			name: "limit all is no limit",
			sql:  "SELECT * FROM t LIMIT ALL",
			want: Result{Type: TypeSelect, Tables: tables("hive.web.t")},
		},
		{
			name: "column named limit",
			sql:  "SELECT limit, offset FROM t",
			want: Result{Type: TypeSelect, Tables: tables("hive.web.t")},
		},

		// --- Defaults -------------------------------------------------
		{
			name: "no defaults: one and two part names are unresolved",
			sql:  "SELECT * FROM Orders o JOIN sales.items i ON o.id = i.oid JOIN hive.sales.Customers c ON true",
			opts: noDefaults,
			want: Result{Type: TypeSelect, Tables: tables("hive.sales.customers"), Unresolved: []string{"Orders", "sales.items"}},
		},
		{
			name: "catalog only",
			sql:  "SELECT * FROM orders, sales.items WHERE true",
			opts: catalogOnly,
			want: Result{Type: TypeSelect, Tables: tables("hive.sales.items"), HasWhere: true, Unresolved: []string{"orders"}},
		},
		{
			name: "schema only",
			sql:  "SELECT * FROM orders JOIN sales.items ON true",
			opts: schemaOnly,
			want: Result{Type: TypeSelect, Tables: tables(), Unresolved: []string{"orders", "sales.items"}},
		},
		{
			name: "defaults are normalised",
			sql:  "SELECT * FROM t",
			opts: &Options{Catalog: "Hive", Schema: "my.schema"},
			want: Result{Type: TypeSelect, Tables: tables(`hive."my.schema".t`)},
		},
		{
			name: "too many parts and empty parts are unresolved",
			sql:  `SELECT * FROM a.b.c.d, "".t`,
			want: Result{Type: TypeSelect, Tables: tables(), CrossJoin: true, Unresolved: []string{`"".t`, "a.b.c.d"}},
		},
		{
			name: "unresolved name as written",
			sql:  `SELECT * FROM "My Table" JOIN s . t ON true`,
			opts: noDefaults,
			want: Result{Type: TypeSelect, Tables: tables(), Unresolved: []string{`"My Table"`, "s.t"}},
		},

		// --- DML ------------------------------------------------------
		{
			name: "insert select with joins",
			sql: `INSERT INTO warehouse.daily (d, total)
			      SELECT o.d, sum(i.price) FROM sales.orders o
			      JOIN sales.items i ON i.oid = o.id
			      LEFT JOIN (SELECT * FROM sales.refunds WHERE ok) r ON r.oid = o.id
			      GROUP BY o.d LIMIT 100`,
			want: Result{Type: TypeInsert, Tables: tables("hive.sales.items", "hive.sales.orders", "hive.sales.refunds", "hive.warehouse.daily"), HasWhere: true, HasLimit: true},
		},
		{
			name: "insert values",
			sql:  "INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'SELECT * FROM y')",
			want: Result{Type: TypeInsert, Tables: tables("hive.web.t")},
		},
		{
			name: "insert parenthesised query",
			sql:  "insert into t (select * from u)",
			want: Result{Type: TypeInsert, Tables: tables("hive.web.t", "hive.web.u")},
		},
		{
			name: "delete with sub-query",
			sql:  "DELETE FROM t WHERE id IN (SELECT id FROM u)",
			want: Result{Type: TypeDelete, Tables: tables("hive.web.t", "hive.web.u"), HasWhere: true},
		},
		{
			name: "delete without WHERE",
			sql:  "delete from sales.t",
			want: Result{Type: TypeDelete, Tables: tables("hive.sales.t")},
		},
		{
			name: "update with sub-query",
			sql:  "UPDATE t SET a = (SELECT max(b) FROM u), c = 2 WHERE id = 1",
			want: Result{Type: TypeUpdate, Tables: tables("hive.web.t", "hive.web.u"), HasWhere: true},
		},
		{
			name: "merge with sub-query source",
			sql: `MERGE INTO accounts AS a
			      USING (SELECT * FROM staging.updates u WHERE u.ok) AS s
			      ON a.id = s.id
			      WHEN MATCHED AND s.del THEN DELETE
			      WHEN MATCHED THEN UPDATE SET balance = s.balance, flag = s.flag
			      WHEN NOT MATCHED THEN INSERT (id, balance) VALUES (s.id, s.balance)`,
			want: Result{Type: TypeMerge, Tables: tables("hive.staging.updates", "hive.web.accounts"), HasWhere: true},
		},
		{
			name: "merge with table source",
			sql:  "MERGE INTO t USING u ON t.id = u.id WHEN MATCHED THEN UPDATE SET x = u.x, y = u.y",
			want: Result{Type: TypeMerge, Tables: tables("hive.web.t", "hive.web.u")},
		},

		// --- CREATE ---------------------------------------------------
		{
			name: "create table as select",
			sql:  "CREATE TABLE IF NOT EXISTS s.new WITH (format = 'ORC') AS SELECT * FROM old JOIN other USING (id) WITH NO DATA",
			want: Result{Type: TypeCreateTableAs, Tables: tables("hive.s.new", "hive.web.old", "hive.web.other")},
		},
		{
			name: "create or replace table as parenthesised query with column aliases",
			sql:  "CREATE OR REPLACE TABLE t (a, b) AS (SELECT x, y FROM u LIMIT 3)",
			want: Result{Type: TypeCreateTableAs, Tables: tables("hive.web.t", "hive.web.u"), HasLimit: true},
		},
		{
			name: "create table",
			sql:  "CREATE TABLE t (id bigint, name varchar COMMENT 'FROM x', ts timestamp(3)) WITH (partitioned_by = ARRAY['ts'])",
			want: Result{Type: TypeCreateTable, Tables: tables("hive.web.t")},
		},
		{
			name: "create table like",
			sql:  "CREATE TABLE t2 (LIKE t1 INCLUDING PROPERTIES, extra int)",
			want: Result{Type: TypeCreateTable, Tables: tables("hive.web.t1", "hive.web.t2")},
		},
		{
			name: "create view",
			sql:  "CREATE OR REPLACE VIEW v COMMENT 'x' SECURITY INVOKER AS SELECT * FROM t WHERE a > 1",
			want: Result{Type: TypeCreateView, Tables: tables("hive.web.t", "hive.web.v"), HasWhere: true},
		},
		{
			name: "create materialized view is DDL",
			sql:  "CREATE MATERIALIZED VIEW IF NOT EXISTS mv AS WITH c AS (SELECT * FROM t) SELECT * FROM c",
			want: Result{Type: TypeDDL, Tables: tables("hive.web.mv", "hive.web.t")},
		},
		{
			name: "create schema",
			sql:  "CREATE SCHEMA hive.new_schema WITH (location = 's3://b/p')",
			want: Result{Type: TypeDDL, Tables: tables()},
		},

		// --- Other DDL ------------------------------------------------
		{
			name: "alter table rename",
			sql:  "ALTER TABLE IF EXISTS t RENAME TO s.u",
			want: Result{Type: TypeDDL, Tables: tables("hive.s.u", "hive.web.t")},
		},
		{
			name: "alter table execute with WHERE",
			sql:  "ALTER TABLE t EXECUTE optimize(file_size_threshold => '10MB') WHERE part = 1",
			want: Result{Type: TypeDDL, Tables: tables("hive.web.t"), HasWhere: true},
		},
		{
			name: "drop table",
			sql:  "DROP TABLE IF EXISTS sales.old;",
			want: Result{Type: TypeDDL, Tables: tables("hive.sales.old")},
		},
		{
			name: "drop view and schema",
			sql:  "drop view v",
			want: Result{Type: TypeDDL, Tables: tables("hive.web.v")},
		},
		{
			name: "drop schema names no table",
			sql:  "DROP SCHEMA IF EXISTS s CASCADE",
			want: Result{Type: TypeDDL, Tables: tables()},
		},
		{
			name: "truncate",
			sql:  "TRUNCATE TABLE t",
			want: Result{Type: TypeDDL, Tables: tables("hive.web.t")},
		},
		{
			name: "comment on column",
			sql:  "COMMENT ON COLUMN s.t.c IS 'FROM here'",
			want: Result{Type: TypeDDL, Tables: tables("hive.s.t")},
		},
		{
			name: "grant on table",
			sql:  "GRANT SELECT, INSERT ON TABLE orders TO ROLE analyst WITH GRANT OPTION",
			want: Result{Type: TypeDDL, Tables: tables("hive.web.orders")},
		},
		{
			name: "revoke names no table from grantee",
			sql:  "REVOKE SELECT ON orders FROM alice",
			want: Result{Type: TypeDDL, Tables: tables("hive.web.orders")},
		},
		{
			name: "deny on schema",
			sql:  "DENY DELETE ON SCHEMA s TO bob",
			want: Result{Type: TypeDDL, Tables: tables()},
		},
		{
			name: "refresh materialized view",
			sql:  "REFRESH MATERIALIZED VIEW s.mv",
			want: Result{Type: TypeDDL, Tables: tables("hive.s.mv")},
		},

		// --- SHOW / DESCRIBE ------------------------------------------
		{
			name: "show tables from catalog.schema",
			sql:  "SHOW TABLES FROM hive.sales LIKE 'o%'",
			want: Result{Type: TypeShow, Tables: tables()},
		},
		{
			name: "show columns",
			sql:  "SHOW COLUMNS FROM sales.orders",
			want: Result{Type: TypeShow, Tables: tables("hive.sales.orders")},
		},
		{
			name: "show create table",
			sql:  "SHOW CREATE TABLE t",
			want: Result{Type: TypeShow, Tables: tables("hive.web.t")},
		},
		{
			name: "show stats for query",
			sql:  "SHOW STATS FOR (SELECT * FROM t WHERE x > 1)",
			want: Result{Type: TypeShow, Tables: tables("hive.web.t"), HasWhere: true},
		},
		{
			name: "show catalogs",
			sql:  "show catalogs",
			want: Result{Type: TypeShow, Tables: tables()},
		},
		{
			name: "describe table",
			sql:  "DESCRIBE sales.orders",
			want: Result{Type: TypeShow, Tables: tables("hive.sales.orders")},
		},
		{
			name: "desc table",
			sql:  "desc t",
			want: Result{Type: TypeShow, Tables: tables("hive.web.t")},
		},
		{
			name: "describe output",
			sql:  "DESCRIBE OUTPUT my_query",
			want: Result{Type: TypeShow, Tables: tables()},
		},
		{
			name: "describe input",
			sql:  "DESCRIBE INPUT my_query",
			want: Result{Type: TypeShow, Tables: tables()},
		},

		// --- Session, transactions, prepared statements ---------------
		{name: "call", sql: "CALL system.sync_partition_metadata('web', 't', 'FULL')", want: Result{Type: TypeCall, Tables: tables()}},
		{name: "set session", sql: "SET SESSION query_max_run_time = '1h'", want: Result{Type: TypeSetSession, Tables: tables()}},
		{name: "reset session", sql: "RESET SESSION hive.x", want: Result{Type: TypeSetSession, Tables: tables()}},
		{name: "set role", sql: "SET ROLE admin", want: Result{Type: TypeSetSession, Tables: tables()}},
		{name: "set path", sql: "SET PATH hive.fns", want: Result{Type: TypeSetSession, Tables: tables()}},
		{name: "set time zone", sql: "SET TIME ZONE 'UTC'", want: Result{Type: TypeSetSession, Tables: tables()}},
		{name: "set session authorization", sql: "SET SESSION AUTHORIZATION 'bob'", want: Result{Type: TypeSetSession, Tables: tables()}},
		{name: "reset session authorization", sql: "RESET SESSION AUTHORIZATION", want: Result{Type: TypeSetSession, Tables: tables()}},
		{name: "start transaction", sql: "START TRANSACTION ISOLATION LEVEL READ COMMITTED", want: Result{Type: TypeTransaction, Tables: tables()}},
		{name: "commit", sql: "COMMIT WORK", want: Result{Type: TypeTransaction, Tables: tables()}},
		{name: "rollback", sql: "rollback", want: Result{Type: TypeTransaction, Tables: tables()}},
		{name: "use", sql: "USE hive.sales", want: Result{Type: TypeUse, Tables: tables()}},
		{
			name: "prepare",
			sql:  "PREPARE q1 FROM SELECT * FROM t WHERE id = ? LIMIT 1",
			want: Result{Type: TypePrepare, Inner: TypeSelect, Tables: tables("hive.web.t"), HasWhere: true, HasLimit: true},
		},
		{name: "execute", sql: "EXECUTE q1 USING 1, 'a'", want: Result{Type: TypeExecute, Tables: tables()}},
		{
			name: "execute immediate",
			sql:  "EXECUTE IMMEDIATE 'DELETE FROM t WHERE x = ''a''' USING 1",
			want: Result{Type: TypeExecute, Inner: TypeDelete, Tables: tables("hive.web.t"), HasWhere: true},
		},
		{name: "deallocate prepare", sql: "DEALLOCATE PREPARE q1", want: Result{Type: TypeExecute, Tables: tables()}},

		// --- Query forms ----------------------------------------------
		{name: "values", sql: "VALUES (1, 'a'), (2, 'b')", want: Result{Type: TypeSelect, Tables: tables()}},
		{name: "table statement", sql: "TABLE sales.orders", want: Result{Type: TypeSelect, Tables: tables("hive.sales.orders")}},
		{
			name: "values in FROM",
			sql:  "SELECT * FROM (VALUES (1, 2)) AS v(a, b), t",
			want: Result{Type: TypeSelect, Tables: tables("hive.web.t"), CrossJoin: true},
		},

		// --- EXPLAIN --------------------------------------------------
		{
			name: "explain",
			sql:  "EXPLAIN SELECT * FROM t LIMIT 1",
			want: Result{Type: TypeExplain, Explain: ExplainPlain, Inner: TypeSelect, Tables: tables("hive.web.t"), HasLimit: true},
		},
		{
			name: "explain with options",
			sql:  "EXPLAIN (TYPE IO, FORMAT JSON) SELECT * FROM t JOIN u ON t.id = u.id",
			want: Result{Type: TypeExplain, Explain: ExplainPlain, Inner: TypeSelect, Tables: tables("hive.web.t", "hive.web.u")},
		},
		{
			name: "explain parenthesised query",
			sql:  "EXPLAIN (SELECT 1 FROM t)",
			want: Result{Type: TypeExplain, Explain: ExplainPlain, Inner: TypeSelect, Tables: tables("hive.web.t")},
		},
		{
			name: "explain analyze verbose",
			sql:  "explain analyze verbose SELECT count(*) FROM t WHERE x = 1",
			want: Result{Type: TypeExplainAnalyze, Explain: ExplainAnalyze, Inner: TypeSelect, Tables: tables("hive.web.t"), HasWhere: true},
		},
		{
			name: "explain analyze insert",
			sql:  "EXPLAIN ANALYZE INSERT INTO t SELECT * FROM u",
			want: Result{Type: TypeExplainAnalyze, Explain: ExplainAnalyze, Inner: TypeInsert, Tables: tables("hive.web.t", "hive.web.u")},
		},
		{
			name: "explain create table as",
			sql:  "EXPLAIN CREATE TABLE t AS SELECT * FROM u",
			want: Result{Type: TypeExplain, Explain: ExplainPlain, Inner: TypeCreateTableAs, Tables: tables("hive.web.t", "hive.web.u")},
		},

		// --- Statement boundaries and broken input ---------------------
		{
			name: "trailing semicolon",
			sql:  "SELECT * FROM t;",
			want: Result{Type: TypeSelect, Tables: tables("hive.web.t")},
		},
		{
			name: "multiple statements: first one only",
			sql:  "SELECT * FROM a; DROP TABLE b; DELETE FROM c",
			want: Result{Type: TypeSelect, Tables: tables("hive.web.a")},
		},
		{
			name: "leading empty statements",
			sql:  " ; ;\n SELECT * FROM t",
			want: Result{Type: TypeSelect, Tables: tables("hive.web.t")},
		},
		{name: "empty", sql: "", want: Result{Type: TypeUnknown, Tables: tables()}},
		{name: "whitespace only", sql: " \t\r\n ", want: Result{Type: TypeUnknown, Tables: tables()}},
		{name: "comments only", sql: "-- nothing\n/* here */", want: Result{Type: TypeUnknown, Tables: tables()}},
		{name: "unrecognised", sql: "VACUUM t", want: Result{Type: TypeUnknown, Tables: tables()}},
		{name: "unrecognised SET", sql: "SET x = 1", want: Result{Type: TypeUnknown, Tables: tables()}},
		{
			name: "unterminated string",
			sql:  "SELECT * FROM t WHERE x = 'abc FROM u",
			want: Result{Type: TypeSelect, Tables: tables("hive.web.t"), HasWhere: true},
		},
		{
			name: "unterminated block comment",
			sql:  "SELECT * FROM t /* FROM u",
			want: Result{Type: TypeSelect, Tables: tables("hive.web.t")},
		},
		{
			name: "unterminated quoted identifier",
			sql:  `SELECT * FROM "abc`,
			want: Result{Type: TypeSelect, Tables: tables("hive.web.abc")},
		},
		{
			name: "unbalanced parentheses",
			sql:  "SELECT * FROM (SELECT * FROM t WHERE (a = 1) ) ) ) JOIN u ON (((",
			want: Result{Type: TypeSelect, Tables: tables("hive.web.t", "hive.web.u"), HasWhere: true},
		},
		{
			name: "keyword soup",
			sql:  "FROM FROM FROM ( ( , , JOIN",
			want: Result{Type: TypeUnknown, Tables: tables()},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := defaults
			if tc.opts != nil {
				o = *tc.opts
			}
			got := Classify(tc.sql, o)
			if got.Tables == nil {
				t.Errorf("Tables is nil")
			}
			// The per-block findings have their own test (TestFindings).
			got.Blocks, got.FullScans, got.QueryStart, got.QueryEnd = nil, nil, 0, 0
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Classify(%q)\n got: %s\nwant: %s", tc.sql, dump(got), dump(tc.want))
			}
		})
	}
}

func dump(r Result) string {
	b, _ := json.Marshal(r)
	return string(b)
}

func TestClassifyJSON(t *testing.T) {
	b, err := json.Marshal(Classify("select 1", Options{}))
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"type":"SELECT","tables":[],"crossJoin":false,"hasWhere":false,"hasLimit":false}`
	if string(b) != want {
		t.Errorf("got %s, want %s", b, want)
	}
	b, _ = json.Marshal(Classify("EXPLAIN SELECT * FROM t", Options{}))
	const want2 = `{"type":"EXPLAIN","tables":[],"crossJoin":false,"hasWhere":false,"hasLimit":false,"explain":"EXPLAIN","innerType":"SELECT","unresolved":["t"]}`
	if string(b) != want2 {
		t.Errorf("got %s, want %s", b, want2)
	}
}

func TestClassifyLimits(t *testing.T) {
	t.Run("tables cap", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("SELECT * FROM t0")
		for i := 1; i < MaxTables+100; i++ {
			fmt.Fprintf(&b, " JOIN t%d ON true", i)
		}
		r := Classify(b.String(), defaults)
		if !r.Truncated || len(r.Tables) != MaxTables {
			t.Errorf("Truncated=%v len(Tables)=%d, want true, %d", r.Truncated, len(r.Tables), MaxTables)
		}
	})
	t.Run("token budget", func(t *testing.T) {
		sql := "SELECT 1" + strings.Repeat(" + 1", MaxTokens) + " FROM t"
		r := Classify(sql, defaults)
		if !r.Truncated || r.Type != TypeSelect || len(r.Tables) != 0 {
			t.Errorf("got %s", dump(r))
		}
	})
	t.Run("many duplicate tables", func(t *testing.T) {
		sql := "SELECT * FROM t" + strings.Repeat(", t, u", 10000)
		r := Classify(sql, defaults)
		if r.Truncated || !reflect.DeepEqual(r.Tables, []string{"hive.web.t", "hive.web.u"}) || !r.CrossJoin {
			t.Errorf("got %s", dump(r))
		}
	})
	t.Run("deep nesting", func(t *testing.T) {
		sql := "SELECT * FROM " + strings.Repeat("(", 5000) + "SELECT * FROM t" + strings.Repeat(")", 5000) + " JOIN u ON true"
		r := Classify(sql, defaults)
		if !r.Truncated || !reflect.DeepEqual(r.Tables, []string{"hive.web.u"}) {
			t.Errorf("got %s", dump(r))
		}
	})
	t.Run("nested EXECUTE IMMEDIATE", func(t *testing.T) {
		sql := "EXECUTE IMMEDIATE 'EXECUTE IMMEDIATE ''EXECUTE IMMEDIATE ''''SELECT * FROM t'''''''"
		r := Classify(sql, defaults)
		if !r.Truncated || r.Type != TypeExecute || r.Inner != TypeExecute {
			t.Errorf("got %s", dump(r))
		}
	})
}

// TestStatementTypeAgreesWithClassify: the cheap type is the full
// classification's, or (past its token budget) one that is not a read.
func TestStatementTypeAgreesWithClassify(t *testing.T) {
	long := strings.Repeat("a + ", 200) + "1"
	cases := []string{
		"SELECT 1", "WITH t AS (SELECT " + long + ") SELECT * FROM t", "(SELECT 1) UNION (SELECT 2)", "VALUES 1", "TABLE x",
		"SHOW CATALOGS", "DESCRIBE t", "EXPLAIN SELECT 1", "EXPLAIN (TYPE IO, FORMAT JSON) INSERT INTO t SELECT 1",
		"EXPLAIN ANALYZE SELECT 1", "INSERT INTO t SELECT " + long, "CREATE TABLE t AS SELECT " + long,
		"CREATE TABLE " + strings.Repeat("x", 10) + " (" + strings.Repeat("c int, ", 40) + "d int) WITH (format = 'ORC') AS SELECT 1",
		"DELETE FROM t WHERE " + long, "EXECUTE IMMEDIATE 'INSERT INTO t VALUES 1'", "CALL p()", "SELECT " + long + " FROM t",
		"/* comment */ -- line\n SELECT 1", "", "garbage here",
	}
	for _, sql := range cases {
		full := Classify(sql, Options{}).Type
		cheap := StatementType(sql, Options{})
		if cheap != full && (cheap == TypeSelect || cheap == TypeShow || cheap == TypeExplain) {
			t.Errorf("%.60q: StatementType %s, Classify %s: a read where the statement is not one", sql, cheap, full)
		}
		if len(sql) < 200 && cheap != full {
			t.Errorf("%.60q: StatementType %s, Classify %s", sql, cheap, full)
		}
	}
}

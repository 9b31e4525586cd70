package sqlclass

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestFindings(t *testing.T) {
	in := func(ts ...string) []string { return ts }
	cases := []struct {
		name      string
		sql       string
		blocks    []Block
		fullScans []string
	}{
		{
			name:      "unfiltered scan",
			sql:       "SELECT sum(x) FROM big",
			blocks:    []Block{{Tables: in("hive.web.big"), Inputs: [][]string{in("hive.web.big")}}},
			fullScans: in("hive.web.big"),
		},
		{
			name:   "filtered scan",
			sql:    "SELECT * FROM big WHERE d = DATE '2026-01-01'",
			blocks: []Block{{Tables: in("hive.web.big"), Inputs: [][]string{in("hive.web.big")}, Where: true}},
		},
		{
			name:   "limited scan",
			sql:    "SELECT * FROM big LIMIT 10",
			blocks: []Block{{Tables: in("hive.web.big"), Inputs: [][]string{in("hive.web.big")}, Limit: true}},
		},
		{
			name: "explicit cross join with its inputs",
			sql:  "SELECT count(*) FROM tpch.sf1.orders CROSS JOIN tpch.sf1.customer",
			blocks: []Block{{Tables: in("tpch.sf1.customer", "tpch.sf1.orders"),
				Inputs: [][]string{in("tpch.sf1.orders"), in("tpch.sf1.customer")}, CrossJoin: true}},
			fullScans: in("tpch.sf1.customer", "tpch.sf1.orders"),
		},
		{
			name: "comma join without WHERE is a cross join",
			sql:  "SELECT * FROM a, b",
			blocks: []Block{{Tables: in("hive.web.a", "hive.web.b"),
				Inputs: [][]string{in("hive.web.a"), in("hive.web.b")}, CrossJoin: true}},
			fullScans: in("hive.web.a", "hive.web.b"),
		},
		{
			name: "comma join with WHERE is not",
			sql:  "SELECT * FROM a, b WHERE a.k = b.k",
			blocks: []Block{{Tables: in("hive.web.a", "hive.web.b"),
				Inputs: [][]string{in("hive.web.a"), in("hive.web.b")}, Where: true}},
		},
		{
			name: "join with criteria",
			sql:  "SELECT * FROM a JOIN b ON a.k = b.k WHERE a.d > 1",
			blocks: []Block{{Tables: in("hive.web.a", "hive.web.b"),
				Inputs: [][]string{in("hive.web.a"), in("hive.web.b")}, Where: true}},
		},
		{
			name: "sub-query input: its tables are one input, its WHERE its own",
			sql:  "SELECT * FROM (SELECT * FROM a WHERE x = 1) s CROSS JOIN b",
			blocks: []Block{
				{Tables: in("hive.web.a"), Inputs: [][]string{in("hive.web.a")}, Where: true},
				{Tables: in("hive.web.b"), Inputs: [][]string{in("hive.web.a"), in("hive.web.b")}, CrossJoin: true},
			},
			fullScans: in("hive.web.b"),
		},
		{
			name: "CTE input stands for what its body reads",
			sql:  "WITH s AS (SELECT * FROM a JOIN c ON a.k = c.k WHERE a.x > 0) SELECT * FROM s CROSS JOIN b",
			blocks: []Block{
				{Tables: in("hive.web.a", "hive.web.c"), Inputs: [][]string{in("hive.web.a"), in("hive.web.c")}, Where: true},
				{Tables: in("hive.web.b"), Inputs: [][]string{in("hive.web.a", "hive.web.c"), in("hive.web.b")}, CrossJoin: true},
			},
			fullScans: in("hive.web.b"),
		},
		{
			name: "join in parentheses belongs to the enclosing block",
			sql:  "SELECT * FROM (a CROSS JOIN b) JOIN c ON a.k = c.k WHERE c.x = 1",
			blocks: []Block{{Tables: in("hive.web.a", "hive.web.b", "hive.web.c"),
				Inputs: [][]string{in("hive.web.a"), in("hive.web.b"), in("hive.web.c")}, Where: true, CrossJoin: true}},
		},
		{
			name: "WHERE of a sub-query filters only its block",
			sql:  "SELECT * FROM big WHERE k IN (SELECT k FROM small WHERE y = 2)",
			blocks: []Block{
				{Tables: in("hive.web.small"), Inputs: [][]string{in("hive.web.small")}, Where: true},
				{Tables: in("hive.web.big"), Inputs: [][]string{in("hive.web.big")}, Where: true},
			},
		},
		{
			name: "scalar sub-query without WHERE is a full scan of its table",
			sql:  "SELECT (SELECT max(x) FROM big) FROM small WHERE y = 1",
			blocks: []Block{
				{Tables: in("hive.web.big"), Inputs: [][]string{in("hive.web.big")}},
				{Tables: in("hive.web.small"), Inputs: [][]string{in("hive.web.small")}, Where: true},
			},
			fullScans: in("hive.web.big"),
		},
		{
			name: "union: one block per branch",
			sql:  "SELECT * FROM a WHERE x = 1 UNION ALL SELECT * FROM b",
			blocks: []Block{
				{Tables: in("hive.web.a"), Inputs: [][]string{in("hive.web.a")}, Where: true},
				{Tables: in("hive.web.b"), Inputs: [][]string{in("hive.web.b")}},
			},
			fullScans: in("hive.web.b"),
		},
		{
			name:   "UNNEST and VALUES are not inputs",
			sql:    "SELECT * FROM a CROSS JOIN UNNEST(a.arr) AS t(x) WHERE a.y = 1",
			blocks: []Block{{Tables: in("hive.web.a"), Inputs: [][]string{in("hive.web.a")}, Where: true}},
		},
		{
			name:      "TABLE t",
			sql:       "TABLE big",
			blocks:    []Block{{Tables: in("hive.web.big"), Inputs: [][]string{in("hive.web.big")}}},
			fullScans: in("hive.web.big"),
		},
		{
			name:      "INSERT ... SELECT: the source is scanned, the target is not a block input",
			sql:       "INSERT INTO t SELECT * FROM big",
			blocks:    []Block{{Tables: in("hive.web.big"), Inputs: [][]string{in("hive.web.big")}}},
			fullScans: in("hive.web.big"),
		},
		{
			name:   "DELETE has no block",
			sql:    "DELETE FROM big",
			blocks: nil,
		},
		{
			name:      "EXECUTE IMMEDIATE: the inner statement's blocks",
			sql:       "EXECUTE IMMEDIATE 'SELECT * FROM a CROSS JOIN b'",
			blocks:    []Block{{Tables: in("hive.web.a", "hive.web.b"), Inputs: [][]string{in("hive.web.a"), in("hive.web.b")}, CrossJoin: true}},
			fullScans: in("hive.web.a", "hive.web.b"),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Classify(tc.sql, defaults)
			if !reflect.DeepEqual(r.Blocks, tc.blocks) {
				got, _ := json.Marshal(r.Blocks)
				want, _ := json.Marshal(tc.blocks)
				t.Errorf("blocks of %q\n got: %s\nwant: %s", tc.sql, got, want)
			}
			if !reflect.DeepEqual(r.FullScans, tc.fullScans) {
				t.Errorf("fullScans of %q: got %q, want %q", tc.sql, r.FullScans, tc.fullScans)
			}
			cross := false
			for _, b := range r.Blocks {
				cross = cross || b.CrossJoin
			}
			if cross && !r.CrossJoin {
				t.Errorf("a block has a cross join but CrossJoin is false")
			}
		})
	}
}

// TestQueryOfWrite: the query part of INSERT and CREATE TABLE AS, which
// cost estimation EXPLAINs instead of the write.
func TestQueryOfWrite(t *testing.T) {
	cases := []struct{ sql, query string }{
		{"INSERT INTO t SELECT * FROM big", "SELECT * FROM big"},
		{"insert into t (a, b) select x, y from big where z = 1;", "select x, y from big where z = 1"},
		{"INSERT INTO t (SELECT 1)", "(SELECT 1)"},
		{"INSERT INTO t VALUES (1, 2)", "VALUES (1, 2)"},
		{"CREATE TABLE memory.default.x AS SELECT * FROM tpch.tiny.nation", "SELECT * FROM tpch.tiny.nation"},
		{"CREATE TABLE IF NOT EXISTS x WITH (format = 'ORC') AS SELECT * FROM y WITH NO DATA", "SELECT * FROM y"},
		{"CREATE TABLE x AS (WITH c AS (SELECT 1 AS a) SELECT * FROM c) with data ;", "(WITH c AS (SELECT 1 AS a) SELECT * FROM c)"},
		{"CREATE TABLE x AS WITH c AS (SELECT 1 AS a) SELECT * FROM c", "WITH c AS (SELECT 1 AS a) SELECT * FROM c"},
		{"SELECT * FROM t", ""},
		{"CREATE TABLE x (a int)", ""},
		{"INSERT INTO t", ""},
		{"EXPLAIN INSERT INTO t SELECT 1", "SELECT 1"},
	}
	for _, tc := range cases {
		r := Classify(tc.sql, defaults)
		got := ""
		if r.QueryEnd > r.QueryStart {
			got = tc.sql[r.QueryStart:r.QueryEnd]
		}
		if got != tc.query {
			t.Errorf("query of %q: got %q, want %q", tc.sql, got, tc.query)
		}
	}
}

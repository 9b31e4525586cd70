package sqlclass

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz/FuzzClassify from fuzzSeeds")

// fuzzSeeds seed FuzzClassify; they are also stored under
// testdata/fuzz/FuzzClassify (go test -run TestSeedCorpus -update-corpus).
var fuzzSeeds = []string{
	"",
	"SELECT * FROM orders",
	"-- c\n/* -- */ select a from \"my.schema\".\"my table\" where x = 'DROP TABLE y'",
	"WITH orders AS (SELECT * FROM orders) SELECT * FROM orders o, t WHERE o.id = t.id LIMIT 10",
	"WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT * FROM r",
	"SELECT EXTRACT(YEAR FROM d), SUBSTRING(s FROM 1 FOR 2), TRIM(BOTH ' ' FROM x) FROM t",
	"SELECT * FROM a CROSS JOIN UNNEST(a.arr) WITH ORDINALITY AS u(x, n) FETCH FIRST 1 ROWS ONLY",
	"SELECT * FROM TABLE(exclude_columns(input => TABLE(c.s.t), columns => DESCRIPTOR(a)))",
	"INSERT INTO c.s.t (a, b) SELECT x, y FROM u JOIN v ON u.id = v.id",
	"MERGE INTO t USING (SELECT * FROM s) s ON t.id = s.id WHEN MATCHED THEN UPDATE SET a = 1, b = 2",
	"CREATE TABLE x WITH (format = 'ORC') AS SELECT * FROM y WITH NO DATA",
	"CREATE TABLE t2 (LIKE t1 INCLUDING PROPERTIES)",
	"EXPLAIN (TYPE IO, FORMAT JSON) SELECT 1",
	"EXPLAIN ANALYZE VERBOSE DELETE FROM t WHERE x IN (SELECT y FROM u)",
	"EXECUTE IMMEDIATE 'SELECT * FROM t WHERE s = ''a'''",
	"PREPARE q FROM UPDATE t SET a = (SELECT 1 FROM u)",
	"COMMENT ON COLUMN a.b.c.d IS 'x'",
	"GRANT SELECT ON TABLE t TO ROLE r",
	"SHOW STATS FOR (SELECT * FROM t)",
	"DESCRIBE OUTPUT q",
	"SELECT count(*) FILTER (WHERE x) FROM t WINDOW w AS (PARTITION BY a), w2 AS (ORDER BY b)",
	"(((SELECT * FROM t LIMIT 1))) UNION (SELECT 1)",
	"SELECT * FROM `Back`.`Quoted`, \"we\"\"ird\", \"\".x, a.b.c.d.e",
	"SELECT 'unterminated",
	"SELECT * FROM \"unterminated",
	"SELECT /* unterminated",
	"SELECT * FROM Données.Café WHERE x = '日本語'",
	"SELECT * FROM t; DROP TABLE u",
	"((((((((",
	"))))) SELECT",
	"\xff\xfe SELECT * FROM \xc3",
}

// validTypes are the values Result.Type and Result.Inner may take.
var validTypes = []string{
	TypeSelect, TypeInsert, TypeCreateTableAs, TypeCreateTable, TypeCreateView,
	TypeDDL, TypeDelete, TypeUpdate, TypeMerge, TypeExplain, TypeExplainAnalyze,
	TypeShow, TypeCall, TypeSetSession, TypePrepare, TypeExecute,
	TypeTransaction, TypeUse, TypeUnknown,
}

func FuzzClassify(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s, "hive", "web")
		f.Add(s, "", "")
	}
	f.Fuzz(func(t *testing.T, sql, catalog, schema string) {
		r := Classify(sql, Options{Catalog: catalog, Schema: schema})
		if err := checkResult(r); err != nil {
			t.Fatalf("Classify(%q, %q, %q) = %s: %v", sql, catalog, schema, dump(r), err)
		}
	})
}

// checkResult checks the invariants every Result must satisfy.
func checkResult(r Result) error {
	if !slices.Contains(validTypes, r.Type) {
		return fmt.Errorf("bad type %q", r.Type)
	}
	if r.Inner != "" && !slices.Contains(validTypes, r.Inner) {
		return fmt.Errorf("bad inner type %q", r.Inner)
	}
	switch r.Type {
	case TypeExplain, TypeExplainAnalyze, TypePrepare:
		if r.Inner == "" {
			return fmt.Errorf("%s without inner type", r.Type)
		}
	case TypeExecute:
	default:
		if r.Inner != "" {
			return fmt.Errorf("%s with inner type", r.Type)
		}
	}
	wantExplain := map[string]string{TypeExplain: ExplainPlain, TypeExplainAnalyze: ExplainAnalyze}[r.Type]
	if r.Explain != wantExplain {
		return fmt.Errorf("explain %q for type %s", r.Explain, r.Type)
	}
	if r.Tables == nil {
		return fmt.Errorf("nil Tables")
	}
	if len(r.Tables) > MaxTables || len(r.Unresolved) > MaxTables {
		return fmt.Errorf("too many names")
	}
	if err := sortedUnique(r.Tables); err != nil {
		return fmt.Errorf("tables: %v", err)
	}
	if err := sortedUnique(r.Unresolved); err != nil {
		return fmt.Errorf("unresolved: %v", err)
	}
	for _, name := range r.Tables {
		parts, ok := splitName(name)
		if !ok || len(parts) != 3 {
			return fmt.Errorf("table %q does not have three parts: %q", name, parts)
		}
		for _, p := range parts {
			if p == "" {
				return fmt.Errorf("table %q has an empty part", name)
			}
		}
	}
	for _, name := range r.Unresolved {
		if name == "" {
			return fmt.Errorf("empty unresolved name")
		}
	}
	if _, err := json.Marshal(r); err != nil {
		return err
	}
	return nil
}

func sortedUnique(s []string) error {
	for i := 1; i < len(s); i++ {
		if s[i-1] >= s[i] {
			return fmt.Errorf("not sorted and unique at %d: %q", i, s)
		}
	}
	return nil
}

// splitName splits a Result table name on unquoted dots, unquoting parts
// written as "..." (with "" escapes).
func splitName(name string) ([]string, bool) {
	var parts []string
	for i := 0; i <= len(name); {
		if i < len(name) && name[i] == '"' {
			var b strings.Builder
			j := i + 1
			for {
				if j >= len(name) {
					return parts, false
				}
				if name[j] == '"' {
					if j+1 < len(name) && name[j+1] == '"' {
						b.WriteByte('"')
						j += 2
						continue
					}
					break
				}
				b.WriteByte(name[j])
				j++
			}
			parts = append(parts, b.String())
			i = j + 1
			if i < len(name) && name[i] != '.' {
				return parts, false
			}
			i++
			continue
		}
		j := strings.IndexByte(name[i:], '.')
		if j < 0 {
			j = len(name) - i
		}
		part := name[i : i+j]
		if strings.Contains(part, `"`) {
			return parts, false
		}
		parts = append(parts, part)
		i += j + 1
	}
	return parts, true
}

func TestSplitName(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"a.b.c", []string{"a", "b", "c"}},
		{`a."b.c".d`, []string{"a", "b.c", "d"}},
		{`"a""b".c.d`, []string{`a"b`, "c", "d"}},
		{`a.b."c"`, []string{"a", "b", "c"}},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := splitName(tc.in)
			if !ok || !slices.Equal(got, tc.want) {
				t.Errorf("splitName(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
			}
		})
	}
}

// TestSeedCorpus checks the seeds and keeps testdata/fuzz/FuzzClassify in
// sync with them.
func TestSeedCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzClassify")
	for i, s := range fuzzSeeds {
		name := fmt.Sprintf("seed%02d", i)
		want := fmt.Sprintf("go test fuzz v1\nstring(%s)\nstring(%q)\nstring(%q)\n", strconv.Quote(s), "hive", "web")
		path := filepath.Join(dir, name)
		if *updateCorpus {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != want {
			t.Errorf("%s is missing or stale; run go test -run TestSeedCorpus -update-corpus", path)
		}
	}
}

// TestAdversarial runs inputs of up to 1 MiB designed to trigger
// quadratic behaviour or deep recursion. It checks only that each
// completes with a well-formed result; the durations are logged.
func TestAdversarial(t *testing.T) {
	const size = 1 << 20
	rep := func(s string) string { return strings.Repeat(s, size/len(s)) }
	var ctes strings.Builder
	ctes.WriteString("WITH ")
	for i := 0; ctes.Len() < size/2; i++ {
		fmt.Fprintf(&ctes, "c%d AS (SELECT 1), ", i)
	}
	ctes.WriteString("z AS (SELECT 1) SELECT * FROM ")
	for ctes.Len() < size {
		ctes.WriteString("nope JOIN ")
	}
	ctes.WriteString("z")

	cases := []struct {
		name string
		sql  string
	}{
		{"open parentheses", rep("(")},
		{"close parentheses", rep(")")},
		{"select in parentheses", rep("(SELECT * FROM ")},
		{"block comment openers", rep("/*")},
		{"block comment openers after select", "SELECT " + rep("/*")},
		{"line comments", rep("--\n")},
		{"huge string", "SELECT '" + rep("x")},
		{"escaped quotes", "SELECT '" + rep("''")},
		{"empty quoted identifiers", rep(`""`)},
		{"quotes", rep(`'`)},
		{"huge identifier", "SELECT * FROM " + rep("a")},
		{"long dotted name", "SELECT * FROM " + rep("a.")},
		{"comma join", "SELECT * FROM " + rep("t,")},
		{"distinct tables", "SELECT * FROM " + rep("t0123456789abcdef,")},
		{"many CTEs and references", ctes.String()},
		{"from from", rep("FROM ")},
		{"with with", "SELECT 1 " + rep("WITH ")},
		{"explain chain", rep("EXPLAIN ")},
		{"prepare chain", rep("PREPARE p FROM ")},
		{"execute immediate quotes", "EXECUTE IMMEDIATE '" + rep("''")},
		{"table function nesting", "SELECT * FROM " + rep("TABLE(f(input => ")},
		{"insert column list", "INSERT INTO t " + rep("(")},
		{"grant without on", "GRANT " + rep("x ")},
		{"unicode", rep("é")},
		{"invalid utf-8", rep("\xff")},
		{"semicolons", rep(";")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			r := Classify(tc.sql, defaults)
			t.Logf("%d bytes in %v, truncated=%v", len(tc.sql), time.Since(start), r.Truncated)
			if err := checkResult(r); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestHugeInput checks that a 64 MiB input stops at the work limits.
func TestHugeInput(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("64 MiB inputs: skipped with -short and -race")
	}
	const size = 64 << 20
	for _, unit := range []string{"SELECT * FROM a, b ", " ", "("} {
		sql := strings.Repeat(unit, size/len(unit))
		start := time.Now()
		r := Classify(sql, defaults)
		t.Logf("%q x %d: %v, truncated=%v", unit, size/len(unit), time.Since(start), r.Truncated)
		if err := checkResult(r); err != nil {
			t.Fatal(err)
		}
	}
}

package sqlclass

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
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
		if r.QueryStart < 0 || r.QueryEnd < 0 || r.QueryStart > r.QueryEnd || r.QueryEnd > len(sql) {
			t.Fatalf("Classify(%q): query part [%d, %d) outside the text", sql, r.QueryStart, r.QueryEnd)
		}
		if fp := Fingerprint(sql); len(fp) != FingerprintLen {
			t.Fatalf("Fingerprint(%q) = %q", sql, fp)
		}
		if n := Normalised(sql, 64); len(n) > 64 {
			t.Fatalf("Normalised(%q, 64) has %d bytes", sql, len(n))
		}
		if err := checkResult(r); err != nil {
			t.Fatalf("Classify(%q, %q, %q) = %s: %v", sql, catalog, schema, dump(r), err)
		}
		// The cheap type never calls a read what is not one.
		if st := StatementType(sql, Options{Catalog: catalog, Schema: schema}); st != r.Type && (st == TypeSelect || st == TypeShow || st == TypeExplain) {
			t.Fatalf("StatementType(%q) = %s, Classify says %s", sql, st, r.Type)
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
	if len(r.Blocks) > MaxBlocks {
		return fmt.Errorf("%d blocks", len(r.Blocks))
	}
	cross := false
	for i, b := range r.Blocks {
		cross = cross || b.CrossJoin
		if err := sortedUnique(b.Tables); err != nil {
			return fmt.Errorf("block %d tables: %v", i, err)
		}
		for _, in := range append([][]string{b.Tables}, b.Inputs...) {
			for _, t := range in {
				if _, ok := slices.BinarySearch(r.Tables, t); !ok {
					return fmt.Errorf("block %d names %q, which is not in Tables", i, t)
				}
			}
		}
	}
	if cross && !r.CrossJoin {
		return fmt.Errorf("a block has a cross join but CrossJoin is false")
	}
	if err := sortedUnique(r.FullScans); err != nil {
		return fmt.Errorf("fullScans: %v", err)
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

// adversarialCases are inputs designed to trigger quadratic behaviour or
// deep recursion; gen(n) builds one of about n bytes.
var adversarialCases = []struct {
	name string
	gen  func(n int) string
	// cteLookups marks the input whose CTE name comparisons grow as the
	// number of CTEs times the number of references: that work is charged
	// to the budget, which bounds it (see TestAdversarialWorkIsBounded).
	cteLookups bool
}{
	{"open parentheses", rep("("), false},
	{"close parentheses", rep(")"), false},
	{"select in parentheses", rep("(SELECT * FROM "), false},
	{"block comment openers", rep("/*"), false},
	{"block comment openers after select", after("SELECT ", rep("/*")), false},
	{"line comments", rep("--\n"), false},
	{"huge string", after("SELECT '", rep("x")), false},
	{"escaped quotes", after("SELECT '", rep("''")), false},
	{"empty quoted identifiers", rep(`""`), false},
	{"quotes", rep(`'`), false},
	{"huge identifier", after("SELECT * FROM ", rep("a")), false},
	{"huge folded identifier", after("SELECT * FROM ", rep("A")), false},
	{"long dotted name", after("SELECT * FROM ", rep("a.")), false},
	{"comma join", after("SELECT * FROM ", rep("t,")), false},
	{"distinct tables", after("SELECT * FROM ", numbered("t%d, ")), false},
	{"same table", after("SELECT * FROM ", rep("t0123456789abcdef,")), false},
	{"many CTEs and references", manyCTEs, true},
	{"from from", rep("FROM "), false},
	{"with with", after("SELECT 1 ", rep("WITH ")), false},
	{"explain chain", rep("EXPLAIN "), false},
	{"prepare chain", rep("PREPARE p FROM "), false},
	{"execute immediate quotes", after("EXECUTE IMMEDIATE '", rep("''")), false},
	{"nested execute immediate", after("EXECUTE IMMEDIATE 'EXECUTE IMMEDIATE ''SELECT * FROM ", rep("t, ")), false},
	{"table function nesting", after("SELECT * FROM ", rep("TABLE(f(input => ")), false},
	{"insert column list", after("INSERT INTO t ", rep("(")), false},
	{"grant without on", after("GRANT ", rep("x ")), false},
	{"unicode", rep("é"), false},
	{"invalid utf-8", rep("\xff"), false},
	{"semicolons", rep(";"), false},
}

// rep returns a generator of s repeated to about n bytes.
func rep(s string) func(int) string {
	return func(n int) string { return strings.Repeat(s, max(1, n/len(s))) }
}

// after returns a generator of prefix followed by gen's text.
func after(prefix string, gen func(int) string) func(int) string {
	return func(n int) string { return prefix + gen(n-len(prefix)) }
}

// numbered returns a generator of format filled with 0, 1, 2, ...
func numbered(format string) func(int) string {
	return func(n int) string {
		var b strings.Builder
		for i := 0; b.Len() < n; i++ {
			fmt.Fprintf(&b, format, i)
		}
		return b.String()
	}
}

// manyCTEs defines CTEs in the first half and references an undefined
// name in the second, so that every reference is compared with every CTE.
func manyCTEs(n int) string {
	var b strings.Builder
	b.WriteString("WITH ")
	for i := 0; b.Len() < n/2; i++ {
		fmt.Fprintf(&b, "c%d AS (SELECT 1), ", i)
	}
	b.WriteString("z AS (SELECT 1) SELECT * FROM ")
	for b.Len() < n {
		b.WriteString("nope JOIN ")
	}
	b.WriteString("z")
	return b.String()
}

// TestAdversarial runs each adversarial input at 1 MiB and checks that it
// completes with a well-formed result within the work budget. The budget
// may be overdrawn by one CTE lookup (a comparison per CTE in scope, and a
// CTE name takes at least two bytes).
func TestAdversarial(t *testing.T) {
	for _, tc := range adversarialCases {
		t.Run(tc.name, func(t *testing.T) {
			sql := tc.gen(1 << 20)
			w, r := measure(sql, MaxTokens)
			if err := checkResult(r); err != nil {
				t.Fatal(err)
			}
			if limit := int64(MaxTokens + len(sql)/2); w.steps > limit {
				t.Errorf("%d steps for %d bytes, want at most %d (the budget and one CTE lookup)", w.steps, len(sql), limit)
			}
			if tc.cteLookups && !r.Truncated {
				t.Errorf("%d CTE comparisons and tokens without truncation; want the budget to stop them", w.steps)
			}
		})
	}
}

// TestAdversarialGrowth checks that the work of each adversarial input
// grows at most linearly with its size. With the budget lifted (so that
// it cannot hide a quadratic algorithm), the steps and the heap
// allocations for 8n bytes must stay within 20 times those for n bytes,
// plus a small constant. Linear work gives 8 times; quadratic work gives
// 64 times, as the CTE input shows (about 60 times from 16 KiB to 128 KiB:
// 344,420 steps, then 20,834,754), so the margin absorbs fixed costs and
// slice doubling but not a quadratic algorithm. Nothing is timed: the
// counts are the same on a loaded machine and under the race detector.
func TestAdversarialGrowth(t *testing.T) {
	const n, factor = 16 << 10, 8
	for _, tc := range adversarialCases {
		t.Run(tc.name, func(t *testing.T) {
			small, _ := measure(tc.gen(n), unlimited)
			large, _ := measure(tc.gen(factor*n), unlimited)
			err := linearGrowth(small, large, factor)
			if tc.cteLookups {
				// The comparisons grow as CTEs times references: the check
				// must see that (which shows it can fail); the budget is
				// what bounds them (TestAdversarial).
				if err == nil {
					t.Fatalf("%+v for %d bytes, %+v for %d: the check missed quadratic CTE lookups", small, n, large, factor*n)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v (%+v for %d bytes, %+v for %d)", err, small, n, large, factor*n)
			}
		})
	}
}

// unlimited is a work budget no test input exhausts.
const unlimited = 1 << 50

// linearGrowth reports an error for each count that grew more than
// linearly (with a margin of 2.5) from small to large, for an input factor
// times larger.
func linearGrowth(small, large work, factor int64) error {
	const margin = 2.5
	check := func(what string, a, b, slack int64) error {
		if limit := int64(float64(factor)*margin*float64(a)) + slack; b > limit {
			return fmt.Errorf("%s grew from %d to %d for an input %d times larger, more than linearly (at most %d)", what, a, b, factor, limit)
		}
		return nil
	}
	return errors.Join(
		check("steps", small.steps, large.steps, 16),
		check("allocations", small.allocs, large.allocs, 16),
		check("bytes allocated", small.bytes, large.bytes, 4<<10),
	)
}

// work is what one classification cost, counted rather than timed: steps
// are the work budget used (tokens scanned plus CTE name comparisons),
// allocs and bytes the heap allocations.
type work struct {
	steps, allocs, bytes int64
}

// measure classifies sql with the given work budget and counts the work.
// Like testing.AllocsPerRun it runs with GOMAXPROCS 1, so that the
// allocation counts are this goroutine's.
func measure(sql string, budget int) (work, Result) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	left := budget
	r := classify(sql, defaults, 0, &left)
	runtime.ReadMemStats(&after)
	return work{steps: int64(budget - left), allocs: int64(after.Mallocs - before.Mallocs), bytes: int64(after.TotalAlloc - before.TotalAlloc)}, r
}

// TestHugeInput checks that a 64 MiB input stops at the work limits.
func TestHugeInput(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB inputs: skipped with -short")
	}
	const size = 64 << 20
	for _, unit := range []string{"SELECT * FROM a, b ", " ", "("} {
		sql := strings.Repeat(unit, size/len(unit))
		w, r := measure(sql, MaxTokens)
		if err := checkResult(r); err != nil {
			t.Fatal(err)
		}
		if w.steps > MaxTokens {
			t.Errorf("%q x %d: %d steps, want at most %d (the budget)", unit, size/len(unit), w.steps, MaxTokens)
		}
		if want := strings.TrimSpace(unit) != ""; r.Truncated != want {
			t.Errorf("%q x %d: truncated %v, want %v", unit, size/len(unit), r.Truncated, want)
		}
	}
}

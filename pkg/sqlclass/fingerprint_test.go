package sqlclass

import (
	"strings"
	"testing"
)

func TestFingerprint(t *testing.T) {
	same := [][]string{
		{
			"SELECT * FROM orders WHERE orderdate = DATE '2026-01-01' AND total > 100",
			"select *\n  from ORDERS -- today's\n where orderdate = date '1999-12-31' and total > 7.5;",
			"SELECT * FROM orders /* c */ WHERE orderdate = DATE 'x' AND total > 1e10",
		},
		{
			"SELECT * FROM t WHERE k IN (1, 2, 3)",
			"SELECT * FROM t WHERE k IN (4)",
			"SELECT * FROM t WHERE k IN ('a', 'b')",
		},
	}
	for _, group := range same {
		want := Fingerprint(group[0])
		if len(want) != FingerprintLen {
			t.Fatalf("fingerprint %q has length %d", want, len(want))
		}
		for _, sql := range group[1:] {
			if got := Fingerprint(sql); got != want {
				t.Errorf("%q and %q differ:\n%s\n%s", group[0], sql, Normalised(group[0], 500), Normalised(sql, 500))
			}
		}
	}
	different := []string{
		"SELECT * FROM orders",
		"SELECT * FROM lineitem",
		`SELECT * FROM "Orders"`,
		"SELECT a FROM orders",
		"SELECT * FROM t WHERE k IN (1, x)",
		"SELECT * FROM t WHERE k IN (1)",
		"SELECT * FROM t WHERE k = 1 OR j = 2",
		"SELECT * FROM t WHERE k = 1, 2",
	}
	seen := map[string]string{}
	for _, sql := range different {
		fp := Fingerprint(sql)
		if other, ok := seen[fp]; ok {
			t.Errorf("%q and %q share a fingerprint (%s / %s)", sql, other, Normalised(sql, 500), Normalised(other, 500))
		}
		seen[fp] = sql
	}
	if got := Normalised("SELECT * FROM t WHERE k IN (1, 2, 3) AND s = 'x';", 500); got != "select * from t where k in ( ? ) and s = ?" {
		t.Errorf("Normalised: %q", got)
	}
	if got := Normalised(strings.Repeat("SELECT 1 ", 100), 20); len(got) > 20 {
		t.Errorf("Normalised exceeds its bound: %d bytes", len(got))
	}
}

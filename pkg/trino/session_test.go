package trino

import (
	"net/url"
	"reflect"
	"strings"
	"testing"
)

const sid = "0123456789abcdef0123456789abcdef"

// echoed is what a client sends back for an X-Trino-Added-Prepare value:
// the Python client unquotes the SQL and quotes it again with quote_plus,
// the Java client URL-decodes and URL-encodes it.
func echoed(t *testing.T, added string) string {
	t.Helper()
	name, sql, ok := strings.Cut(added, "=")
	if !ok {
		t.Fatalf("added-prepare value %q has no =", added)
	}
	s, err := url.QueryUnescape(sql)
	if err != nil {
		t.Fatal(err)
	}
	return name + "=" + url.QueryEscape(s)
}

func TestGatewaySessionRoundTrip(t *testing.T) {
	back := echoed(t, GatewaySessionAdded(sid))
	tests := []struct {
		name, header string
		id           string
		found        bool
		rest         []string
	}{
		{"alone", back, sid, true, nil},
		{"among the user's own, order kept", "q1=SELECT+1," + back + ",q2=SELECT+%27a%2Cb%27", sid, true, []string{"q1=SELECT+1", "q2=SELECT+%27a%2Cb%27"}},
		{"spaces around items", " q1=SELECT+1 , " + back + " ", sid, true, []string{"q1=SELECT+1"}},
		{"the user's only", "q1=SELECT+1", "", false, []string{"q1=SELECT+1"}},
		{"a name that only starts like ours", "switchyard_session2=SELECT+1", "", false, []string{"switchyard_session2=SELECT+1"}},
		{"ours with a forged ID is removed, no ID", "switchyard_session=" + url.QueryEscape("SELECT 'switchyard session ZZZ'"), "", true, nil},
		{"ours with no value", "switchyard_session", "", true, nil},
		{"an encoded name", "switchyard%5Fsession=" + url.QueryEscape("SELECT 'switchyard session "+sid+"'"), sid, true, nil},
		{"empty", "", "", false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, found, rest := SplitPrepared(tt.header)
			if id != tt.id || found != tt.found || !reflect.DeepEqual(rest, tt.rest) {
				t.Fatalf("SplitPrepared(%q) = %q, %v, %q; want %q, %v, %q", tt.header, id, found, rest, tt.id, tt.found, tt.rest)
			}
		})
	}
}

func FuzzSplitPrepared(f *testing.F) {
	f.Add("q1=SELECT+1," + GatewaySessionAdded(sid))
	f.Add("a=b,,c")
	f.Add("switchyard_session=%ZZ")
	f.Fuzz(func(t *testing.T, header string) {
		id, found, rest := SplitPrepared(header)
		if id != "" && (!found || !ValidSessionID(id)) {
			t.Fatalf("id %q from %q without a valid entry", id, header)
		}
		// The gateway's entry never survives in what goes on to Trino.
		for _, item := range rest {
			if id2, found2, _ := SplitPrepared(item); found2 {
				t.Fatalf("kept item %q is the gateway's entry (id %q)", item, id2)
			}
			if strings.Contains(item, ",") {
				t.Fatalf("kept item %q holds a comma", item)
			}
		}
	})
}

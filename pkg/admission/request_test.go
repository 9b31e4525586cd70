package admission

import (
	"reflect"
	"strings"
	"testing"

	"github.com/switchyard-gw/switchyard/pkg/store"
)

func TestSessionHeaders(t *testing.T) {
	tests := []struct {
		name    string
		headers [][2]string
		want    Session
	}{
		{"identity and session", [][2]string{
			{"x-trino-user", "alice"}, {"x-trino-source", "dbt"}, {"x-trino-client-info", "ci"},
			{"x-trino-catalog", "tpch"}, {"x-trino-schema", "tiny"}, {"x-trino-routing-group", "  etl "},
		}, Session{User: "alice", Source: "dbt", ClientInfo: "ci", Catalog: "tpch", Schema: "tiny", RoutingGroup: "etl",
			TrinoHeaders: map[string]string{"x-trino-source": "dbt", "x-trino-client-info": "ci", "x-trino-catalog": "tpch", "x-trino-schema": "tiny"}}},
		{"client tags: trimmed, empty ones dropped, repeated headers add", [][2]string{
			{"x-trino-client-tags", " a, b ,,c "}, {"x-trino-client-tags", "d"},
		}, Session{ClientTags: []string{"a", "b", "c", "d"}, TrinoHeaders: map[string]string{"x-trino-client-tags": "d"}}},
		{"session properties: URL-decoded, malformed pairs skipped", [][2]string{
			{"x-trino-session", "query_max_run_time=5m, join_distribution_type=BROADCAST,bad,=x,msg=a%2Cb%3Dc,raw=100%"},
		}, Session{Properties: map[string]string{"query_max_run_time": "5m", "join_distribution_type": "BROADCAST", "msg": "a,b=c", "raw": "100%"},
			TrinoHeaders: map[string]string{"x-trino-session": "query_max_run_time=5m, join_distribution_type=BROADCAST,bad,=x,msg=a%2Cb%3Dc,raw=100%"}}},
		{"the peer is the last X-Forwarded-For entry (Envoy appends it)", [][2]string{
			{"x-forwarded-for", "6.6.6.6, 10.0.0.7 ,192.0.2.1"},
		}, Session{RemoteAddress: "192.0.2.1"}},
		{"one X-Forwarded-For entry", [][2]string{{"x-forwarded-for", "192.0.2.9"}}, Session{RemoteAddress: "192.0.2.9"}},
		{"transaction", [][2]string{{"x-trino-transaction-id", " tx-1 "}},
			Session{Transaction: "tx-1", TrinoHeaders: map[string]string{"x-trino-transaction-id": " tx-1 "}}},
		{"other headers are not the session's", [][2]string{{"user-agent", "trino-cli"}, {"accept-encoding", "gzip"}}, Session{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Session
			for _, h := range tt.headers {
				s.SetHeader(h[0], h[1])
				// Every X-Trino-* header is kept as sent, in order, for
				// resubmission.
				if strings.HasPrefix(h[0], "x-trino-") {
					tt.want.Sent = append(tt.want.Sent, store.Header{Name: h[0], Value: h[1]})
				}
			}
			if !reflect.DeepEqual(s, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", s, tt.want)
			}
		})
	}
}

func TestInTransaction(t *testing.T) {
	for txn, want := range map[string]bool{"": false, "NONE": false, "none": false, "tx-1": true} {
		if got := (&Session{Transaction: txn}).InTransaction(); got != want {
			t.Errorf("%q: %v", txn, got)
		}
	}
}

func TestRequestIDIsMadeOnceOnFirstUse(t *testing.T) {
	var r Request
	id := r.ID()
	if !strings.HasPrefix(id, "sy_") || r.ID() != id {
		t.Fatalf("ids %q, %q", id, r.ID())
	}
	if (&Request{}).ID() == id {
		t.Fatal("two requests share an ID")
	}
}

// FuzzSessionHeaders: any header name and value is recorded without a
// panic, and what the session says comes from the headers: the user, the
// routing group and the remote address are the header's (trimmed) value,
// tags are non-empty and trimmed, and every property came from the header.
func FuzzSessionHeaders(f *testing.F) {
	for _, seed := range [][2]string{
		{"x-trino-user", "alice"}, {"x-trino-client-tags", "a,,b"}, {"x-trino-session", "a=1,b=%ZZ,=c,d"},
		{"x-forwarded-for", ",,"}, {"x-forwarded-for", ""}, {"x-trino-routing-group", " g "}, {"x-trino-session", "k=%E2%82%AC"},
		{"x-trino-transaction-id", "NONE"}, {"host", "x"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, name, value string) {
		name = strings.ToLower(name)
		var s Session
		s.SetHeader(name, value)
		switch name {
		case "x-trino-user":
			if s.User != value {
				t.Fatalf("user %q from %q", s.User, value)
			}
		case "x-trino-routing-group":
			if s.RoutingGroup != strings.TrimSpace(value) {
				t.Fatalf("group %q from %q", s.RoutingGroup, value)
			}
		case "x-forwarded-for":
			if strings.Contains(s.RemoteAddress, ",") || !strings.Contains(value, strings.TrimSpace(s.RemoteAddress)) {
				t.Fatalf("remote %q from %q", s.RemoteAddress, value)
			}
		}
		for _, tag := range s.ClientTags {
			if tag == "" || tag != strings.TrimSpace(tag) || strings.Contains(tag, ",") {
				t.Fatalf("tag %q from %q", tag, value)
			}
		}
		for k := range s.Properties {
			if k == "" || !strings.Contains(value, k) || strings.Contains(k, "=") {
				t.Fatalf("property %q from %q", k, value)
			}
		}
		if !strings.HasPrefix(name, "x-trino-") && name != "x-forwarded-for" && !reflect.DeepEqual(s, Session{}) {
			t.Fatalf("header %q changed the session: %+v", name, s)
		}
	})
}

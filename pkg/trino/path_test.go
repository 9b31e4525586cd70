package trino

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestParsePath(t *testing.T) {
	const id = "20220929_234840_00001_vjwxj"
	tests := []struct {
		path, query string
		kind        PathKind
		id          string
		malformed   bool
	}{
		{"/v1/statement", "", PathSubmit, "", false},
		{"/v1/statement/", "", PathExecuting, "", true},
		{"/v1/statement/queued/" + id + "/y1234/1", "", PathQueued, id, false},
		{"/v1/statement/executing/" + id + "/y1234/2", "", PathExecuting, id, false},
		{"/v1/statement/executing/partialCancel/" + id + "/3/y1234/2", "", PathPartialCancel, id, false},
		{"/v1/query/" + id, "", PathQueryAPI, id, false},
		{"/v1/query/" + id + "/killed", "", PathQueryAPI, id, false},
		{"/ui/api/query/" + id, "", PathUIQuery, id, false},
		{"/ui/query.html", id, PathUIQuery, id, false},
		{"/ui/query.html", id + "&x=1", PathUIQuery, id, false},
		{"/v1/info", "", PathOther, "", false},
		{"/v1/query", "", PathOther, "", false},
		{"/ui/", "", PathOther, "", false},
		{"/v1/statement/queued/", "", PathQueued, "", true},
		{"/v1/statement/executing/BAD-ID/x/1", "", PathExecuting, "", true},
		{"/v1/statement/executing/" + strings.Repeat("a", 200) + "/x/1", "", PathExecuting, "", true},
		{"/v1/statement/other/thing", "", PathExecuting, "", true},
		{"/v1/query/has%20space", "", PathQueryAPI, "", true},
		{"/ui/query.html", "", PathUIQuery, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.path+"?"+tt.query, func(t *testing.T) {
			info, err := ParsePath(tt.path, tt.query)
			if info.Kind != tt.kind || info.QueryID != tt.id {
				t.Fatalf("got kind %v id %q, want %v %q", info.Kind, info.QueryID, tt.kind, tt.id)
			}
			var m *MalformedQueryIDError
			if got := errors.As(err, &m); got != tt.malformed {
				t.Fatalf("malformed error %v (%v), want %v", got, err, tt.malformed)
			}
		})
	}
}

func TestStatementKinds(t *testing.T) {
	for k, want := range map[PathKind]bool{
		PathSubmit: true, PathQueued: true, PathExecuting: true, PathPartialCancel: true,
		PathQueryAPI: false, PathUIQuery: false, PathOther: false,
	} {
		if k.IsStatement() != want {
			t.Errorf("%v.IsStatement() = %v", k, !want)
		}
	}
}

func TestCoordinatorPrefix(t *testing.T) {
	p := CoordinatorPrefix("blue", "0")
	c, k, rest, ok := ParseCoordinatorPrefix(p + "/v1/statement/queued/x/y/1")
	if !ok || c != "blue" || k != "0" || rest != "/v1/statement/queued/x/y/1" {
		t.Fatalf("got %q %q %q %v", c, k, rest, ok)
	}
	for _, bad := range []string{"/v1/statement", "/_sy/", "/_sy/blue", "/_sy/blue/0", "/_sy//0/x", "x/_sy/a/b/c"} {
		if _, _, _, ok := ParseCoordinatorPrefix(bad); ok {
			t.Errorf("%q parsed as prefixed", bad)
		}
	}
}

func TestValidQueryID(t *testing.T) {
	for id, want := range map[string]bool{
		"20220929_234840_00001_vjwxj": true, "abc": true, "": false, "ABC": false, "a-b": false, "a/b": false,
		strings.Repeat("a", MaxQueryIDLength): true, strings.Repeat("a", MaxQueryIDLength+1): false,
	} {
		if ValidQueryID(id) != want {
			t.Errorf("ValidQueryID(%q) = %v", id, !want)
		}
	}
}

// FuzzParsePath: no panic on any input; an extracted ID is always valid,
// comes from the input, and errors are readable text.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{
		"/v1/statement", "/v1/statement/queued/20220929_234840_00001_vjwxj/y/1",
		"/v1/statement/executing/partialCancel/x/1/y/2", "/v1/query/abc/killed", "/ui/query.html",
		"/ui/api/query/", "/_sy/a/0/v1/statement", "", "/", "//v1//statement",
	} {
		f.Add(s, "")
	}
	f.Add("/ui/query.html", "20220929_234840_00001_vjwxj")
	f.Fuzz(func(t *testing.T, path, query string) {
		info, err := ParsePath(path, query)
		if info.QueryID != "" {
			if !ValidQueryID(info.QueryID) {
				t.Fatalf("invalid ID %q extracted", info.QueryID)
			}
			if !strings.Contains(path+"?"+query, info.QueryID) {
				t.Fatalf("ID %q not in input", info.QueryID)
			}
		}
		if err != nil {
			if info.QueryID != "" {
				t.Fatalf("error %v with an ID", err)
			}
			if msg := err.Error(); msg == "" || len(msg) > 400 || !utf8.ValidString(msg) && utf8.ValidString(path+query) {
				t.Fatalf("unreadable error %q", msg)
			}
		}
		_, _, _, _ = ParseCoordinatorPrefix(path)
	})
}

// FuzzCoordinatorPrefix checks the coordinator prefix both ways (seeds in
// testdata/fuzz/FuzzCoordinatorPrefix): a cluster and coordinator that are
// non-empty and have no '/' (every valid name) round-trip through
// CoordinatorPrefix and ParseCoordinatorPrefix with any rest of the path;
// whatever parses re-builds to the same path; a path outside RoutePrefix is
// never claimed; and ParsePath never takes a query ID from a prefixed path
// (Envoy routes it by the prefix), while the rest after the prefix
// classifies as the path would without it.
func FuzzCoordinatorPrefix(f *testing.F) {
	f.Fuzz(func(t *testing.T, cluster, coordinator, rest string) {
		for _, path := range []string{rest, CoordinatorPrefix(cluster, coordinator) + "/" + rest} {
			c, k, r, ok := ParseCoordinatorPrefix(path)
			if !ok {
				if c != "" || k != "" || r != "" {
					t.Fatalf("ParseCoordinatorPrefix(%q) = %q %q %q without ok", path, c, k, r)
				}
				continue
			}
			if !strings.HasPrefix(path, RoutePrefix) {
				t.Fatalf("%q, outside %s, parsed as cluster %q coordinator %q", path, RoutePrefix, c, k)
			}
			if c == "" || k == "" || strings.Contains(c, "/") || strings.Contains(k, "/") || !strings.HasPrefix(r, "/") {
				t.Fatalf("%q parsed as cluster %q coordinator %q rest %q", path, c, k, r)
			}
			if rebuilt := CoordinatorPrefix(c, k) + r; rebuilt != path {
				t.Fatalf("%q parsed as %q %q %q, which re-builds to %q", path, c, k, r, rebuilt)
			}
			if info, err := ParsePath(path, ""); info.Kind != PathOther || info.QueryID != "" || err != nil {
				t.Fatalf("ParsePath(%q) = %+v, %v; want a prefixed path left to its prefix route", path, info, err)
			}
		}
		if cluster == "" || coordinator == "" || strings.Contains(cluster, "/") || strings.Contains(coordinator, "/") {
			return
		}
		prefix := CoordinatorPrefix(cluster, coordinator)
		if _, _, _, ok := ParseCoordinatorPrefix(prefix); ok {
			t.Fatalf("%q, a prefix without a path after it, parsed", prefix)
		}
		c, k, r, ok := ParseCoordinatorPrefix(prefix + "/" + rest)
		if !ok || c != cluster || k != coordinator || r != "/"+rest {
			t.Fatalf("%q with rest %q parsed as %q %q %q %v", prefix, rest, c, k, r, ok)
		}
		want, wantErr := ParsePath("/"+rest, "")
		if got, err := ParsePath(r, ""); got != want || (err == nil) != (wantErr == nil) {
			t.Fatalf("rest %q after the prefix: %+v, %v; without the prefix %+v, %v", r, got, err, want, wantErr)
		}
	})
}

func FuzzParseSubmitResponse(f *testing.F) {
	f.Add([]byte(`{"id":"20220929_234840_00001_vjwxj","nextUri":"http://h/_sy/a/0/v1/statement/queued/x/y/1"}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseSubmitResponse(b)
		if err == nil && !ValidQueryID(r.ID) {
			t.Fatalf("accepted invalid ID %q", r.ID)
		}
	})
}

func TestQueryIDTime(t *testing.T) {
	got, ok := QueryIDTime("20261205_062019_00001_abcde")
	if !ok || !got.Equal(time.Date(2026, 12, 5, 6, 20, 19, 0, time.UTC)) {
		t.Fatalf("%v %v", got, ok)
	}
	for _, id := range []string{"", "q_1", "20261205_062019", "2026120x_062019_00001_abcde", "20261305_062019_00001_abcde", "20261205-062019_00001_abcde", "sy_20261205_062019_aa"} {
		if _, ok := QueryIDTime(id); ok {
			t.Errorf("%q read as a time", id)
		}
	}
}

// FuzzQueryIDTime: any ID reads as a time only in Trino's form, and that
// time renders back to the ID's first 15 characters.
func FuzzQueryIDTime(f *testing.F) {
	f.Add("20261205_062019_00001_abcde")
	f.Add("20260229_000000_x")
	f.Fuzz(func(t *testing.T, id string) {
		ts, ok := QueryIDTime(id)
		if !ok {
			return
		}
		if got := ts.UTC().Format("20060102_150405"); got != id[:15] {
			t.Fatalf("%q read as %v (%s)", id, ts, got)
		}
	})
}

package trino

import (
	"errors"
	"strings"
	"testing"
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

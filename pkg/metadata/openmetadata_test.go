package metadata

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// omRequest is a request the fake OpenMetadata server received.
type omRequest struct {
	path, query, auth string
}

// omFake answers GETs by escaped path (status and body); anything else is
// a 404, as OpenMetadata answers an unknown entity.
type omFake struct {
	srv     *httptest.Server
	answers map[string]omAnswer

	mu   sync.Mutex
	reqs []omRequest
}

type omAnswer struct {
	status int
	body   string
}

func newOMFake(t *testing.T, answers map[string]omAnswer) *omFake {
	f := &omFake{answers: answers}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.reqs = append(f.reqs, omRequest{r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Get("Authorization")})
		f.mu.Unlock()
		a, ok := f.answers[r.URL.EscapedPath()]
		if !ok || r.Method != http.MethodGet {
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"code":404,"message":"table instance for `+r.URL.Path+` not found"}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, a.body)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *omFake) requests() []omRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]omRequest(nil), f.reqs...)
}

// An answer shaped like OpenMetadata 1.5+'s Table entity with
// fields=tags,owners (trimmed).
const omOrders = `{
  "id": "455e3d9d-dbbf-455e-b3be-7191daa825f3",
  "name": "orders",
  "fullyQualifiedName": "trino_prod.hive_db.sales.orders",
  "tableType": "Regular",
  "version": 0.3,
  "tags": [
    {"tagFQN": "PII.Sensitive", "source": "Classification", "labelType": "Manual", "state": "Confirmed"},
    {"tagFQN": "Tier.Tier1", "source": "Classification", "labelType": "Manual", "state": "Confirmed"}
  ],
  "owners": [
    {"id": "a1", "type": "team", "name": "sales", "fullyQualifiedName": "sales", "displayName": "Sales", "deleted": false},
    {"id": "a2", "type": "user", "name": "bob", "displayName": "Bob", "deleted": false}
  ],
  "profile": {"timestamp": 1767312000000, "columnCount": 9, "rowCount": 1500000, "sizeInByte": 176000000},
  "deleted": false
}`

// The same before 1.5: one "owner" reference.
const omLegacy = `{
  "name": "customer",
  "fullyQualifiedName": "hive.hive.sales.customer",
  "tags": [{"tagFQN": "PII.Sensitive"}],
  "owner": {"id": "u1", "type": "user", "name": "alice", "displayName": "Alice"}
}`

func TestOpenMetadata(t *testing.T) {
	f := newOMFake(t, map[string]omAnswer{
		"/api/v1/tables/name/trino_prod.hive_db.sales.orders": {200, omOrders},
		// Deleted owners are skipped; an owner with no name has its display name.
		"/api/v1/tables/name/trino_prod.hive_db.sales.returns": {200, `{"owners":[{"name":"gone","deleted":true},{"displayName":"Ops Team"}]}`},
		"/api/v1/tables/name/trino_prod.hive_db.sales.broken":  {500, `{"code":500,"message":"Internal Server Error"}`},
		"/api/v1/tables/name/trino_prod.hive_db.sales.garbled": {200, `{"tags": "PII"}`},
		// A part with '.' is double-quoted, a part with '"' has it escaped, and each part is path-escaped.
		`/api/v1/tables/name/trino_prod.hive_db.%22a.b%22.c%5C%22d`: {200, `{"tags":[{"tagFQN":"odd"}]}`},
	})
	om := &OpenMetadata{
		BaseURL:   f.srv.URL + "/",
		Token:     "s3cret",
		Services:  map[string]string{"hive": "trino_prod"},
		Databases: map[string]string{"hive": "hive_db"},
	}
	got, err := om.Lookup(context.Background(), []string{
		"hive.sales.orders", "hive.sales.returns", "hive.sales.nope", "hive.sales.broken", "hive.sales.garbled", `hive."a.b"."c""d"`, "bad.name",
	})
	wantErr(t, err, "hive.sales.broken", "HTTP 500", "Internal Server Error", "hive.sales.garbled", "decoding the answer")
	if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "nope") {
		t.Errorf("error %v", err)
	}
	equal(t, "answers", got, map[string]Table{
		"hive.sales.orders":  {Tags: []string{"PII.Sensitive", "Tier.Tier1"}, Owner: "sales", Rows: 1.5e6, RowsKnown: true, Bytes: 1.76e8, BytesKnown: true},
		"hive.sales.returns": {Owner: "Ops Team"},
		`hive."a.b"."c""d"`:  {Tags: []string{"odd"}},
	})
	reqs := f.requests()
	if len(reqs) != 6 {
		t.Fatalf("requests %+v, want one per valid name", reqs)
	}
	for _, r := range reqs {
		if r.auth != "Bearer s3cret" || r.query != "fields=tags%2Cowners" {
			t.Errorf("request %+v", r)
		}
	}
	if fqn, _ := om.FQN(`hive."a.b"."c""d"`); fqn != `trino_prod.hive_db."a.b".c\"d` {
		t.Errorf("FQN %s", fqn)
	}
}

// Servers before 1.5 have "owner" (and refuse "owners"); no token, no
// Authorization header; the catalog names the service and database by
// default.
func TestOpenMetadataLegacyOwner(t *testing.T) {
	f := newOMFake(t, map[string]omAnswer{"/api/v1/tables/name/hive.hive.sales.customer": {200, omLegacy}})
	om := &OpenMetadata{BaseURL: f.srv.URL, OwnerField: "owner"}
	got, err := om.Lookup(context.Background(), []string{"hive.sales.customer"})
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "answers", got, map[string]Table{"hive.sales.customer": {Tags: []string{"PII.Sensitive"}, Owner: "alice"}})
	r := f.requests()[0]
	if r.auth != "" || r.query != "fields=tags%2Cowner" {
		t.Errorf("request %+v", r)
	}
}

// With Profile, the latest table profile gives rows and bytes.
func TestOpenMetadataProfile(t *testing.T) {
	f := newOMFake(t, map[string]omAnswer{
		"/api/v1/tables/name/s.c.sch.profiled":                 {200, `{"tags":[{"tagFQN":"a"}]}`},
		"/api/v1/tables/s.c.sch.profiled/tableProfile/latest":  {200, `{"name":"profiled","profile":{"timestamp":1,"rowCount":42,"sizeInByte":4096}}`},
		"/api/v1/tables/name/s.c.sch.unprofiled":               {200, `{"tags":[{"tagFQN":"b"}]}`},
		"/api/v1/tables/name/s.c.sch.forbidden":                {200, `{"tags":[{"tagFQN":"c"}]}`},
		"/api/v1/tables/s.c.sch.forbidden/tableProfile/latest": {403, `{"code":403,"message":"Principal: bot does not have permission ViewDataProfile"}`},
	})
	om := &OpenMetadata{BaseURL: f.srv.URL, Services: map[string]string{"c": "s"}, Profile: true}
	got, err := om.Lookup(context.Background(), []string{"c.sch.profiled", "c.sch.unprofiled", "c.sch.forbidden"})
	// A failed profile is reported, and the table's tags are still used.
	wantErr(t, err, "c.sch.forbidden", "the table profile", "HTTP 403")
	equal(t, "answers", got, map[string]Table{
		"c.sch.profiled":   {Tags: []string{"a"}, Rows: 42, RowsKnown: true, Bytes: 4096, BytesKnown: true},
		"c.sch.unprofiled": {Tags: []string{"b"}},
		"c.sch.forbidden":  {Tags: []string{"c"}},
	})
	for _, r := range f.requests() {
		if strings.HasSuffix(r.path, "/tableProfile/latest") && r.query != "includeColumnProfile=false" {
			t.Errorf("profile request %+v", r)
		}
	}
}

func TestOpenMetadataNotConfigured(t *testing.T) {
	_, err := (&OpenMetadata{}).Lookup(context.Background(), []string{"a.b.c"})
	wantErr(t, err, "no base URL")
}

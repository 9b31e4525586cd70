package admission

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/routing"
	"github.com/switchyard-gw/switchyard/pkg/store"
	"github.com/switchyard-gw/switchyard/pkg/webui"
)

type tokenLogins struct{}

func (tokenLogins) UILogin(_ context.Context, base, _, _ string) (string, error) {
	return "tok-" + strings.TrimPrefix(base, "http://"), nil
}

// tokenLists answers each coordinator's query list with one entry naming
// the coordinator and the token and query string it was asked with; b1
// fails.
type tokenLists struct{}

func (tokenLists) UIQueries(_ context.Context, base, token, rawQuery string) ([]json.RawMessage, error) {
	if base == "http://b0" && rawQuery == "fail=b" {
		return nil, errors.New("connection refused")
	}
	return []json.RawMessage{json.RawMessage(fmt.Sprintf(`{"queryId":%q,"token":%q,"q":%q}`, base, token, rawQuery))}, nil
}

func TestWebUI(t *testing.T) {
	f := twoClusterFleet()
	for i := range f.Clusters {
		co := f.Clusters[i].Coordinators[0]
		co.Key, co.URL = f.Clusters[i].Name+"/0", "http://"+f.Clusters[i].Name+"0"
		f.Clusters[i].Coordinators = []fleet.Coordinator{co}
	}
	r := routing.New(f, healthy{})
	st := store.NewMemory()
	ui := webui.New(webui.Options{Fleet: r.Fleet, Logins: tokenLogins{}, Lists: tokenLists{}, Store: st.Sessions})
	p, _ := newPipeline(t, st.Queries, func(o *Options) { o.Router, o.WebUI = r, ui })
	ctx := context.Background()
	req := func(method, path, cookie string, body string) *Request {
		r := &Request{Method: method, Path: path, Scheme: "http", Authority: "gw", Body: []byte(body)}
		if cookie != "" {
			r.Session.SetHeader("cookie", cookie)
		}
		return r
	}
	t.Run("an API call without a login is a JSON 401", func(t *testing.T) {
		o := p.UIRequest(ctx, req("GET", "/ui/api/stats", "", ""), routeTo("a"))
		if o.Action != Respond || o.Response.Status != 401 || o.Response.ContentType != "application/json" || !strings.Contains(string(o.Response.Body), "log in") {
			t.Fatalf("%+v %s", o, o.Response.Body)
		}
	})
	o := p.UILogin(ctx, req("POST", "/ui/login", "", "username=alice&password=&redirectPath=%2Fui%2Fquery.html%3Fq1"))
	if o.Action != Respond || o.Response.Status != 303 {
		t.Fatalf("login %+v", o)
	}
	var location, cookie string
	for _, h := range o.Response.Headers {
		switch h.Name {
		case "location":
			location = h.Value
		case "set-cookie":
			cookie, _, _ = strings.Cut(h.Value, ";")
		}
	}
	if location != "/ui/query.html?q1" || !strings.HasPrefix(cookie, webui.Cookie+"=") {
		t.Fatalf("login answer: location %q, cookie %q", location, cookie)
	}
	token := func(o Outcome) string {
		for _, h := range o.Headers {
			if h.Name == "cookie" {
				return h.Value
			}
		}
		return ""
	}
	t.Run("a query's page gets its owner's token", func(t *testing.T) {
		o := p.UIRequest(ctx, req("GET", "/ui/api/query/q1", cookie, ""), routeTo("b/0"))
		if o.Target != "b/0" || token(o) != "Trino-UI-Token=tok-b0" {
			t.Fatalf("%+v", o)
		}
	})
	t.Run("an infoUri page gets its prefix's token", func(t *testing.T) {
		o := p.UIRequest(ctx, req("GET", "/_sy/b/0/ui/query.html?q1", cookie, ""), Outcome{Action: Pass})
		if o.Action != Pass || token(o) != "Trino-UI-Token=tok-b0" {
			t.Fatalf("%+v", o)
		}
	})
	t.Run("the rest goes to the session's home coordinator", func(t *testing.T) {
		o := p.UIRequest(ctx, req("GET", "/ui/api/stats", cookie, ""), routeTo("q"))
		if o.Target != "a/0" || token(o) != "Trino-UI-Token=tok-a0" {
			t.Fatalf("%+v", o)
		}
	})
	t.Run("the query list is the fleet's, each read with its own token", func(t *testing.T) {
		o := p.UIRequest(ctx, req("GET", "/ui/api/query?state=RUNNING", cookie, ""), routeTo("a"))
		if o.Action != Respond || o.Response.Status != 200 || o.Response.ContentType != "application/json" {
			t.Fatalf("%+v", o)
		}
		var want string
		for i, c := range []string{"a", "b", "p", "q"} { // the fleet's clusters, in order
			if i > 0 {
				want += ","
			}
			want += fmt.Sprintf(`{"queryId":"http://%s0","token":"tok-%s0","q":"state=RUNNING"}`, c, c)
		}
		want = "[" + want + "]"
		if string(o.Response.Body) != want || len(o.Response.Headers) != 0 {
			t.Fatalf("list %s, headers %v; want %s", o.Response.Body, o.Response.Headers, want)
		}
		o = p.UIRequest(ctx, req("GET", "/ui/api/query?fail=b", cookie, ""), routeTo("a"))
		if o.Action != Respond || !strings.Contains(string(o.Response.Body), "http://a0") || strings.Contains(string(o.Response.Body), "http://b0") ||
			len(o.Response.Headers) != 1 || o.Response.Headers[0] != (Header{Name: "x-switchyard-missing", Value: "b/0"}) {
			t.Fatalf("with b/0 failing: %+v %s", o, o.Response.Body)
		}
		// Under a coordinator's prefix the list is that coordinator's own.
		o = p.UIRequest(ctx, req("GET", "/_sy/b/0/ui/api/query", cookie, ""), Outcome{Action: Pass})
		if o.Action != Pass || token(o) != "Trino-UI-Token=tok-b0" {
			t.Fatalf("prefixed list %+v", o)
		}
	})
	t.Run("other paths are not touched", func(t *testing.T) {
		o := p.UIRequest(ctx, req("GET", "/v1/info", cookie, ""), routeTo("b"))
		if o.Target != "b" || token(o) != "" {
			t.Fatalf("%+v", o)
		}
	})
	t.Run("a form without a user name is a JSON 400", func(t *testing.T) {
		o := p.UILogin(ctx, req("POST", "/ui/login", "", "password=x"))
		if o.Action != Respond || o.Response.Status != 400 {
			t.Fatalf("%+v", o)
		}
	})
}

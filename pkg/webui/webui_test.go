package webui

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/switchyard-gw/switchyard/pkg/coordinator"
	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/store"
	"github.com/switchyard-gw/switchyard/pkg/trino"
)

type fakeLogins map[string]string // URL -> token ("" refuses)

func (f fakeLogins) UILogin(_ context.Context, base, user, _ string) (string, error) {
	tok, ok := f[base]
	switch {
	case !ok:
		return "", errors.New("connection refused")
	case tok == "":
		return "", coordinator.ErrUILoginRefused
	}
	return tok + ":" + user, nil
}

func uiFleet() *fleet.Fleet {
	return &fleet.Fleet{Clusters: []fleet.Cluster{
		{Name: "a", State: fleet.Active, Coordinators: []fleet.Coordinator{{Name: "0", URL: "http://a0", Key: "a/0"}}},
		{Name: "b", State: fleet.Active, Coordinators: []fleet.Coordinator{{Name: "0", URL: "http://b0", Key: "b/0"}}},
		{Name: "c", State: fleet.Active, Coordinators: []fleet.Coordinator{{Name: "0", URL: "http://down", Key: "c/0"}}},
	}}
}

func TestLoginLookupLogout(t *testing.T) {
	ctx := context.Background()
	s := New(Options{Fleet: uiFleet, Logins: fakeLogins{"http://a0": "ta", "http://b0": "tb"}, Store: store.NewMemory().Sessions})
	res, err := s.Login(ctx, "alice", "")
	if err != nil {
		t.Fatal(err)
	}
	if res.Session.Tokens["a/0"] != "ta:alice" || res.Session.Tokens["b/0"] != "tb:alice" || !strings.Contains(res.Failed["c/0"], "did not answer") {
		t.Fatalf("login %+v", res)
	}
	header := "theme=dark; " + Cookie + "=" + res.Session.ID
	got, ok, err := s.Lookup(ctx, header)
	if err != nil || !ok || got.User != "alice" || len(got.Tokens) != 2 {
		t.Fatalf("lookup %+v %v %v", got, ok, err)
	}
	if home, ok := got.Home(uiFleet(), func(string) bool { return true }); !ok || home != "a/0" {
		t.Fatalf("home %q", home)
	}
	if home, _ := got.Home(uiFleet(), func(k string) bool { return k != "a/0" }); home != "b/0" {
		t.Fatalf("home with a/0 down: %q, want b/0", home)
	}
	if err := s.Logout(ctx, header); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Lookup(ctx, header); ok {
		t.Fatal("a logged-out session is still found")
	}
	if _, ok, _ := s.Lookup(ctx, Cookie+"=not-an-id"); ok {
		t.Fatal("a malformed cookie found a session")
	}
}

type fakeLists map[string][]json.RawMessage // URL -> list (absent: fails)

func (f fakeLists) UIQueries(_ context.Context, base, _, _ string) ([]json.RawMessage, error) {
	l, ok := f[base]
	if !ok {
		return nil, errors.New("connection refused")
	}
	return l, nil
}

func TestQueryListJoinsTheFleet(t *testing.T) {
	ctx := context.Background()
	sess := Session{ID: "x", User: "alice", Tokens: map[string]string{"a/0": "ta", "b/0": "tb", "c/0": "tc"}}
	lists := fakeLists{"http://a0": {json.RawMessage(`{"queryId":"qa"}`)}, "http://b0": {json.RawMessage(`{"queryId":"qb1"}`), json.RawMessage(`{"queryId":"qb2"}`)}}
	s := New(Options{Fleet: uiFleet, Logins: fakeLogins{}, Lists: lists, Store: store.NewMemory().Sessions})
	body, failed, ok := s.QueryList(ctx, sess, "", func(string) bool { return true })
	if !ok || string(body) != `[{"queryId":"qa"},{"queryId":"qb1"},{"queryId":"qb2"}]` || len(failed) != 1 || failed["c/0"] == "" {
		t.Fatalf("list %s, failed %v, ok %v", body, failed, ok)
	}
	// A coordinator that is down is not asked; one without a token either.
	body, failed, ok = s.QueryList(ctx, Session{Tokens: map[string]string{"b/0": "tb", "c/0": "tc"}}, "", func(k string) bool { return k != "c/0" })
	if !ok || string(body) != `[{"queryId":"qb1"},{"queryId":"qb2"}]` || len(failed) != 0 {
		t.Fatalf("list %s, failed %v, ok %v", body, failed, ok)
	}
	if _, failed, ok := s.QueryList(ctx, Session{Tokens: map[string]string{"c/0": "tc"}}, "", func(string) bool { return true }); ok || failed["c/0"] == "" {
		t.Fatalf("none answered: ok %v, failed %v", ok, failed)
	}
	// An empty fleet answer is an empty list, not null.
	empty := New(Options{Fleet: uiFleet, Lists: fakeLists{"http://a0": nil}, Store: store.NewMemory().Sessions})
	if body, _, ok := empty.QueryList(ctx, Session{Tokens: map[string]string{"a/0": "ta"}}, "", func(string) bool { return true }); !ok || string(body) != "[]" {
		t.Fatalf("empty list %s %v", body, ok)
	}
}

func TestLoginRefusedEverywhere(t *testing.T) {
	s := New(Options{Fleet: uiFleet, Logins: fakeLogins{"http://a0": "", "http://b0": ""}, Store: store.NewMemory().Sessions})
	res, err := s.Login(context.Background(), "alice", "wrong")
	if !errors.Is(err, ErrNoLogin) || !strings.Contains(res.Failed["a/0"], "refused") {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestRedirectPath(t *testing.T) {
	for in, want := range map[string]string{
		"/ui/query.html?20261202_1": "/ui/query.html?20261202_1",
		"":                          "/ui/",
		"https://evil.example/ui/":  "/ui/",
		"//evil.example/ui/":        "/ui/",
		"/ui/\r\nSet-Cookie: x=1":   "/ui/",
		"/v1/statement":             "/ui/",
	} {
		if got := RedirectPath(in); got != want {
			t.Errorf("RedirectPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// The login's redirect stays a path of the UI on this gateway, and the
// cookie reader takes only what could be one of its IDs.
func FuzzRedirectAndCookie(f *testing.F) {
	f.Add("/ui/query.html?x", Cookie+"=0123456789abcdef0123456789abcdef")
	f.Add("//evil/ui/", "a=b; "+Cookie+"=\"x\"")
	f.Fuzz(func(t *testing.T, path, cookie string) {
		r := RedirectPath(path)
		if !strings.HasPrefix(r, "/ui/") || strings.HasPrefix(r, "//") || strings.ContainsAny(r, "\\\r\n") {
			t.Fatalf("RedirectPath(%q) = %q", path, r)
		}
		if id := FromCookie(cookie); id != "" && !trino.ValidSessionID(id) {
			t.Fatalf("FromCookie(%q) = %q", cookie, id)
		}
	})
}

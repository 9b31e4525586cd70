package admission

import (
	"context"
	"encoding/json"
	"net/url"
	"sort"
	"strings"

	"github.com/switchyard-gw/switchyard/pkg/health"
	"github.com/switchyard-gw/switchyard/pkg/trino"
	"github.com/switchyard-gw/switchyard/pkg/webui"
)

// UILogin answers the Trino web UI's login form (POST /ui/login) for the
// whole fleet: the user is logged in to every coordinator, and the browser
// gets the gateway's session cookie and goes where the form said.
func (p *Pipeline) UILogin(ctx context.Context, req *Request) Outcome {
	ui := p.o.WebUI
	if ui == nil {
		return p.refuse(req, reject(trino.ErrNoRoute, "the web UI login is not served by this gateway", ""))
	}
	form, err := url.ParseQuery(string(req.Body))
	if err != nil || form.Get("username") == "" {
		return uiError(400, "the login form needs a username (form fields username, password, redirectPath)")
	}
	res, err := ui.Login(ctx, form.Get("username"), form.Get("password"))
	if err != nil && len(res.Session.Tokens) == 0 {
		p.log(req).Info("web UI login refused", "user", form.Get("username"), "clusters", res.Failed)
		return uiError(401, "login failed: "+failures(res.Failed))
	}
	if err != nil { // logged in, but the session could not be kept
		p.o.Degraded.Fail("store.put_ui_session", "recording web UI sessions fails; logins through the gateway do not last", "error", err)
		return uiError(503, "the gateway cannot keep web UI sessions right now (shared store unavailable); try again")
	}
	p.log(req).Info("web UI login", "user", res.Session.User, "coordinators", len(res.Session.Tokens), "failed", res.Failed)
	return Outcome{Action: Respond, Response: &Response{
		Status: 303, ContentType: "application/json", Body: []byte(`{"message":"logged in"}`),
		Headers: []Header{
			{Name: "location", Value: webui.RedirectPath(form.Get("redirectPath"))},
			{Name: "set-cookie", Value: webui.SetCookie(res.Session.ID, req.Scheme == "https")},
		},
	}}
}

// UIRequest hands a web UI request (a page, an asset, /ui/api/...) the UI
// token of the coordinator it goes to, decided is where it goes without
// it: the owner of the query it names, a coordinator's prefix (Pass), or
// any cluster, which becomes the session's home coordinator. Without a
// gateway session, /ui/api/ calls get a JSON 401 (pages go on: Trino sends
// the browser to its login page, whose form comes back to UILogin).
func (p *Pipeline) UIRequest(ctx context.Context, req *Request, decided Outcome) Outcome {
	ui := p.o.WebUI
	path, _ := req.SplitPath()
	inner := path
	if _, _, rest, ok := trino.ParseCoordinatorPrefix(path); ok {
		inner = rest
	}
	if ui == nil || !strings.HasPrefix(inner, "/ui/") {
		return decided
	}
	if inner == "/ui/logout" {
		if err := ui.Logout(ctx, req.Session.Cookie); err != nil {
			return uiError(503, "the gateway cannot end the web UI session right now (shared store unavailable); try again")
		}
		return Outcome{Action: Respond, Response: &Response{
			Status: 303, ContentType: "application/json", Body: []byte(`{"message":"logged out"}`),
			Headers: []Header{{Name: "location", Value: "/ui/login.html"}, {Name: "set-cookie", Value: webui.SetCookie("", req.Scheme == "https")}},
		}}
	}
	api := strings.HasPrefix(inner, "/ui/api/")
	sess, ok, err := ui.Lookup(ctx, req.Session.Cookie)
	switch {
	case err != nil && api:
		return uiError(503, "the gateway cannot read web UI sessions right now (shared store unavailable); try again")
	case !ok && api:
		return uiError(401, "not logged in to the web UI through this gateway: log in at /ui/login.html")
	case !ok || decided.Action == Reject || decided.Action == Respond:
		return decided
	}
	up := func(k string) bool { return p.o.Health == nil || p.o.Health.State(k) != health.Unhealthy }
	if req.Method == "GET" && path == webui.QueryListPath && ui.ServesQueryList() {
		_, rawQuery := req.SplitPath()
		if body, failed, ok := ui.QueryList(ctx, sess, rawQuery, up); ok {
			r := &Response{Status: 200, ContentType: "application/json", Body: body}
			if len(failed) > 0 { // the page still works; say what it lacks
				r.Headers = append(r.Headers, Header{Name: "x-switchyard-missing", Value: failedKeys(failed)})
			}
			return Outcome{Action: Respond, Response: r}
		}
		// No coordinator answered: the home coordinator's own answer (or
		// error) is as good as any.
	}
	key := ""
	switch decided.Action {
	case Pass:
		c, k, _, _ := trino.ParseCoordinatorPrefix(path)
		key = c + "/" + k
	case Route:
		key = decided.Target
		if !strings.Contains(key, "/") { // a cluster: the session's home coordinator serves it
			home, ok := sess.Home(p.o.Router.Fleet(), up)
			if ok {
				key, decided.Target = home, home
			}
		}
	}
	tok, ok := sess.Tokens[key]
	if !ok {
		if api {
			return uiError(401, "the web UI login does not cover coordinator "+key+" (it joined the fleet later): log in again at /ui/login.html")
		}
		return decided
	}
	decided.Headers = append(decided.Headers, Header{Name: "cookie", Value: webui.TokenCookie(tok)})
	return decided
}

// uiError is a JSON error for the web UI's endpoints.
func uiError(status int, msg string) Outcome {
	b, _ := json.Marshal(map[string]string{"error": msg})
	return Outcome{Action: Respond, Response: &Response{Status: status, ContentType: "application/json", Body: b}}
}

// failedKeys lists the coordinators of m, by name.
func failedKeys(m map[string]string) string { return strings.Join(sortedKeys(m), ", ") }

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func failures(m map[string]string) string {
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, k+": "+m[k])
	}
	if len(parts) == 0 {
		return "no cluster in the fleet"
	}
	return strings.Join(parts, "; ")
}

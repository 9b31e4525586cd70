package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// noRedirect is an HTTP client that shows redirects instead of following.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// uiLogin logs in through the gateway's web UI form and returns the
// gateway's session cookie.
func uiLogin(t *testing.T, server, user, redirect string) *http.Cookie {
	t.Helper()
	form := url.Values{"username": {user}, "password": {""}, "redirectPath": {redirect}}
	resp, err := noRedirect.PostForm(server+"/ui/login", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != redirect {
		t.Fatalf("login: %d, Location %q, body %s; want 303 to %s", resp.StatusCode, resp.Header.Get("Location"), b, redirect)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "Switchyard-UI" {
			return c
		}
	}
	t.Fatalf("login set no Switchyard-UI cookie: %v", resp.Header.Values("Set-Cookie"))
	return nil
}

// uiGet reads a UI path through the gateway with the session cookie (nil:
// none) and returns the status, content type and body.
func uiGet(t *testing.T, server, path string, c *http.Cookie) (int, string, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, server+path, nil)
	if c != nil {
		req.AddCookie(c)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

// TestWebUIAcrossClusters: one login through the gateway opens the page of
// a query whichever cluster runs it (unprefixed and through its infoUri),
// the cluster overview and the query list; /ui/api without a login answers
// JSON, not Trino's plain text.
func TestWebUIAcrossClusters(t *testing.T) {
	g := startGateway(t, 1, twoClusters(deadURL(t)))
	// One query on each cluster (round robin, no session).
	byCluster := map[string]string{}
	infoURIs := map[string]string{}
	for i := 0; i < 6 && len(byCluster) < 2; i++ {
		id, info := runAs(t, g.URL(0), "e2e-ui", "SELECT 1", nil)
		c := whereRan(t)[id]
		byCluster[c], infoURIs[c] = id, info
	}
	if len(byCluster) != 2 {
		t.Fatalf("queries ran on %v, want both clusters", byCluster)
	}
	// Without a login: JSON errors for the API.
	status, ctype, body := uiGet(t, g.URL(0), "/ui/api/query/"+byCluster["a"], nil)
	var e struct{ Error string }
	if status != http.StatusUnauthorized || !strings.HasPrefix(ctype, "application/json") || json.Unmarshal(body, &e) != nil || e.Error == "" {
		t.Fatalf("/ui/api without a login: %d %s %s; want a JSON 401", status, ctype, body)
	}
	cookie := uiLogin(t, g.URL(0), "e2e-ui", "/ui/query.html?"+byCluster["b"])
	for c, id := range byCluster {
		status, ctype, body := uiGet(t, g.URL(0), "/ui/api/query/"+id, cookie)
		var q struct {
			QueryID string `json:"queryId"`
		}
		if status != http.StatusOK || json.Unmarshal(body, &q) != nil || q.QueryID != id {
			t.Fatalf("query %s (cluster %s) through the gateway: %d %s %.300s", id, c, status, ctype, body)
		}
		u, err := url.Parse(infoURIs[c])
		if err != nil {
			t.Fatal(err)
		}
		for _, page := range []string{u.RequestURI(), "/ui/query.html?" + id} {
			if status, _, body := uiGet(t, g.URL(0), page, cookie); status != http.StatusOK || !strings.Contains(string(body), "<html") || strings.Contains(string(body), `id="login"`) {
				t.Fatalf("page %s of a query on cluster %s: %d %.200s", page, c, status, body)
			}
		}
	}
	// The query list is the fleet's: a query of each cluster is in it.
	status, _, body = uiGet(t, g.URL(0), "/ui/api/query", cookie)
	var list []struct {
		QueryID string `json:"queryId"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &list) != nil {
		t.Fatalf("/ui/api/query through the gateway: %d %.300s", status, body)
	}
	listed := map[string]bool{}
	for _, q := range list {
		listed[q.QueryID] = true
	}
	for c, id := range byCluster {
		if !listed[id] {
			t.Errorf("the web UI's query list through the gateway (%d queries) lacks query %s of cluster %s", len(list), id, c)
		}
	}
	for _, p := range []string{"/ui/api/cluster", "/ui/api/stats", "/ui/api/query", "/ui/"} {
		if status, _, body := uiGet(t, g.URL(0), p, cookie); status != http.StatusOK {
			t.Fatalf("%s with the gateway login: %d %.200s", p, status, body)
		}
	}
	// Logout ends the gateway's session: the old cookie opens nothing.
	status, _, _ = uiGet(t, g.URL(0), "/ui/logout", cookie)
	if status != http.StatusSeeOther {
		t.Fatalf("logout: %d, want 303", status)
	}
	if status, _, body := uiGet(t, g.URL(0), "/ui/api/query/"+byCluster["a"], cookie); status != http.StatusUnauthorized {
		t.Fatalf("after logout, the old cookie: %d %.200s; want 401", status, body)
	}
}

// TestWebUIInChromium: a real headless Chromium logs in through the
// gateway (Trino's own login page, its form posted to the gateway), then
// sees a query of each cluster in the query list and opens the page of
// each, waiting for the page to show it.
func TestWebUIInChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is needed for this test (make setup installs Debian's chromium): %v", err)
	}
	g := startGateway(t, 1, twoClusters(deadURL(t)))
	byCluster := map[string]string{}
	for i := 0; i < 6 && len(byCluster) < 2; i++ {
		id, _ := runAs(t, g.URL(0), "e2e-browser", "SELECT 1", nil)
		byCluster[whereRan(t)[id]] = id
	}
	if len(byCluster) != 2 {
		t.Fatalf("queries ran on %v, want both clusters", byCluster)
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.Flag("headless", true),
		chromedp.UserDataDir(t.TempDir()))...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(bctx, 2*time.Minute)
	defer cancel()
	// The UI sends a browser without a login to Trino's login page; its
	// form posts to /ui/login, which the gateway answers.
	steps := []struct {
		what string
		do   chromedp.Action[chromedp.Void]
	}{
		{"open /ui/", chromedp.Navigate(g.URL(0) + "/ui/")},
		{"wait for the login form", chromedp.WaitVisible(chromedp.ID("username"))},
		{"type the user", chromedp.SendKeys(chromedp.ID("username"), "e2e-browser")},
		{"log in", chromedp.Click(chromedp.ID("submit"))},
		{"leave the login page", chromedp.WaitNotPresent(chromedp.ID("username"))},
	}
	for _, st := range steps {
		if _, err := chromedp.Run(ctx, st.do); err != nil {
			t.Fatalf("logging in through the gateway in Chromium: %s: %v", st.what, err)
		}
	}
	// Trino's login page is served under a coordinator's prefix; its
	// form posts there, and the gateway answers that too.
	where, err := chromedp.Run(ctx, chromedp.Evaluate[string]("window.location.href"))
	if err != nil || !strings.HasSuffix(where, "/ui/") {
		text, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		t.Fatalf("after the login Chromium is at %q (%v), showing %.300q; want the gateway's /ui/", where, err, text)
	}
	// The query list page shows the fleet's queries: with its "Finished"
	// filter on, a query of each cluster.
	finished := `[...document.querySelectorAll("button")].find(b => b.innerText.trim() === "Finished")`
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](finished+` !== undefined`, chromedp.WithPollingTimeout(time.Minute)))
	if err == nil {
		_, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const b = `+finished+`; if (!b.classList.contains("active")) { b.click(); } return true; })()`))
	}
	if err == nil {
		_, err = chromedp.Run(ctx, chromedp.Poll[bool](`document.body.innerText.includes("`+byCluster["a"]+`") && document.body.innerText.includes("`+byCluster["b"]+`")`,
			chromedp.WithPollingTimeout(time.Minute)))
	}
	if err != nil {
		text, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		t.Fatalf("the query list in Chromium does not show a query of each cluster (%v): %v; the page shows: %.800s", byCluster, err, text)
	}
	for c, id := range byCluster {
		_, err := chromedp.Run(ctx, chromedp.Navigate(g.URL(0)+"/ui/query.html?"+id))
		if err == nil {
			_, err = chromedp.Run(ctx, chromedp.Poll[bool](`document.body.innerText.includes("`+id+`") && document.body.innerText.includes("FINISHED")`,
				chromedp.WithPollingTimeout(time.Minute)))
		}
		if err != nil {
			text, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
			t.Fatalf("the page of query %s (cluster %s) in Chromium: %v; the page shows: %.500s", id, c, err, text)
		}
	}
}

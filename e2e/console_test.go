package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/switchyard-gw/switchyard/e2e/harness"
	"github.com/switchyard-gw/switchyard/pkg/config"
)

const consoleViewerToken = "console-viewer-token-0123456789"

// TestConsoleInChromium drives the web console in a real headless
// Chromium against a real fleet (the shipped policies, two Trino servers
// under five clusters, the event listener): an operator signs in, sees
// every cluster healthy, drains one and watches it go draining then
// drained, activates it again, runs a policy dry run, finds a query in the
// history with its routing decision, and opens every page; the page logs
// no error. A viewer sees the same but cannot press the operator buttons,
// and the API refuses the action. With SWITCHYARD_CONSOLE_SCREENSHOTS set
// to a directory, each page's screenshot is written there (make
// console-screenshots: docs/console/).
func TestConsoleInChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is needed for this test (make setup installs Debian's chromium): %v", err)
	}
	cfg := policyFleet(t, copyPolicies(t, nil))
	admin := cfg.Extra["admin"].(map[string]any)
	admin["tokens"] = append(admin["tokens"].([]map[string]any),
		map[string]any{"name": "console-viewer", "tokenHash": config.HashToken(consoleViewerToken), "role": "viewer"})
	g := startGatewayWithClusters(t, cfg, "trino_a", "trino_e", "trino_s", "trino_g", "trino_v")
	cp := g.cps[0]
	// A query in the history, with its routing decision.
	id, _ := runAs(t, g.URL(0), "console-e2e", "SELECT count(*) FROM tpch.tiny.nation", nil)
	err = harness.Poll(context.Background(), "the query in the history", time.Minute, 200*time.Millisecond, func() error {
		var hist []struct {
			QueryID string `json:"queryId"`
		}
		adminCall(t, cp, http.MethodGet, "/api/v1/history?limit=100", nil, &hist)
		for _, r := range hist {
			if r.QueryID == id {
				return nil
			}
		}
		return fmt.Errorf("%d records, not %s", len(hist), id)
	})
	if err != nil {
		t.Fatal(err)
	}

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.Flag("headless", true),
		chromedp.WindowSize(1400, 900), chromedp.UserDataDir(t.TempDir()))...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(bctx, 4*time.Minute)
	defer cancel()
	// Every console message of the page: errors fail the test.
	var mu sync.Mutex
	var problems []string
	if _, err := chromedp.Run(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				mu.Lock()
				problems = append(problems, m.String())
				mu.Unlock()
			}
		}
	}()
	shots := os.Getenv("SWITCHYARD_CONSOLE_SCREENSHOTS")
	step := func(what string, a chromedp.Action[chromedp.Void]) {
		t.Helper()
		if _, err := chromedp.Run(ctx, a); err != nil {
			text, _ := chromedp.Run(ctx, chromedp.Evaluate[string]("document.body ? document.body.innerText : ''"))
			t.Fatalf("%s: %v; the page shows: %.1500s", what, err, text)
		}
	}
	wait := func(what, cond string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](cond, chromedp.WithPollingTimeout(90*time.Second), chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
			text, _ := chromedp.Run(ctx, chromedp.Evaluate[string]("document.body ? document.body.innerText : ''"))
			t.Fatalf("waiting for %s: %v; the page shows: %.1500s", what, err, text)
		}
	}
	shoot := func(page string) {
		t.Helper()
		if shots == "" {
			return
		}
		b, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatalf("screenshot of %s: %v", page, err)
		}
		if err := os.WriteFile(filepath.Join(shots, page+".png"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	signIn := func(token string) {
		t.Helper()
		step("open the console", chromedp.Navigate("http://"+cp.AdminAddr+"/console/"))
		wait("the sign-in form", `!document.getElementById("login").hidden`)
		step("type the token", chromedp.SendKeys(chromedp.ID("token"), token))
		step("sign in", chromedp.Click(chromedp.ID("login-button")))
	}
	clusterIs := func(name, attr, want string) string {
		return fmt.Sprintf(`(() => { const e = document.querySelector("#cluster-%s .%s"); return !!e && e.dataset.%s === %q; })()`, name, attr, attr, want)
	}
	confirm := func(what, button string) {
		t.Helper()
		step("press "+button, chromedp.Click(chromedp.ID(button)))
		wait(what+": the confirmation", `document.getElementById("confirm").open`)
		step(what+": confirm", chromedp.Click(chromedp.ID("confirm-ok")))
	}

	// The operator (an admin token).
	signIn(e2eAdminToken)
	wait("the fleet", `document.getElementById("who-role").textContent === "admin"`)
	for _, c := range []string{"a", "e", "s", "g", "v"} {
		wait("cluster "+c+" active and healthy", clusterIs(c, "state", "active")+" && "+clusterIs(c, "health", "healthy"))
	}
	wait("the load charts", `document.querySelectorAll("#view svg.spark polyline").length === 10`)
	shoot("fleet")

	// Drain s, watching its state as the page shows it.
	confirm("drain s", "drain-s")
	var seen []string
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) && (len(seen) == 0 || seen[len(seen)-1] != "drained") {
		st, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector("#cluster-s .state") || {dataset: {}}).dataset.state || ""`))
		if err != nil {
			t.Fatal(err)
		}
		if len(seen) == 0 || seen[len(seen)-1] != st {
			seen = append(seen, st)
		}
		time.Sleep(100 * time.Millisecond) // sampling what the page shows, bounded by the deadline
	}
	if strings.Join(seen, " ") != "active draining drained" && strings.Join(seen, " ") != "draining drained" {
		t.Fatalf("the page showed s as %v, want draining then drained", seen)
	}
	confirm("activate s", "activate-s")
	wait("s active again", clusterIs("s", "state", "active"))

	// A dry run of the policy.
	step("the policy page", chromedp.Navigate("http://"+cp.AdminAddr+"/console/#policy"))
	wait("the policy's version", `!!document.getElementById("policy-version")`)
	step("set the source", chromedp.SetValue(chromedp.ID("dry-source"), "airflow"))
	step("decide", chromedp.Click(chromedp.ID("dry-run")))
	wait("the decision", `(document.getElementById("dry-outcome") || {}).textContent?.startsWith("Routed: group etl")`)
	shoot("policy")

	// The query in the history, with its decision.
	step("the history page", chromedp.Navigate("http://"+cp.AdminAddr+"/console/#history"))
	wait("the search box", `!!document.getElementById("history-search")`)
	step("search", chromedp.SendKeys(chromedp.ID("history-search"), id))
	wait("the query's row with its routing decision", fmt.Sprintf(`(() => { const r = document.getElementById("history-%s"); return !!r && r.innerText.includes("group adhoc →") && document.querySelectorAll("#view tbody tr").length === 1; })()`, id))
	shoot("history")

	for _, page := range []string{"queries", "governance", "alerts"} {
		step("the "+page+" page", chromedp.Navigate("http://"+cp.AdminAddr+"/console/#"+page))
		wait("the "+page+" page drawn", `document.querySelectorAll("#view h2").length > 0 && document.getElementById("error").hidden`)
		shoot(page)
	}
	mu.Lock()
	if len(problems) > 0 {
		t.Errorf("the console logged errors: %v", problems)
	}
	mu.Unlock()

	// A viewer: sees, cannot act.
	step("sign out", chromedp.Navigate("http://"+cp.AdminAddr+"/console/#fleet"))
	wait("the sign-out button", `!document.getElementById("who").hidden`)
	step("sign out", chromedp.Click(chromedp.ID("logout")))
	signIn(consoleViewerToken)
	wait("the fleet as a viewer", `document.getElementById("who-role").textContent === "viewer" && !!document.getElementById("drain-a")`)
	disabled, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`["drain-a", "deactivate-a", "activate-s", "bluegreen"].every((id) => document.getElementById(id).disabled)`))
	if err != nil || !disabled {
		t.Fatalf("a viewer's operator buttons are not all disabled (%v)", err)
	}
	status, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`fetch("/api/v1/clusters/a/drain", {method: "POST", headers: {Authorization: "Bearer `+consoleViewerToken+`"}}).then((r) => r.status)`,
		chromedp.EvalAwaitPromise))
	if err != nil || status != 403 {
		t.Fatalf("a viewer's drain through the API: %v, %v; want 403", status, err)
	}
	var cv clusterView
	adminCall(t, cp, http.MethodGet, "/api/v1/clusters/a", nil, &cv)
	if cv.State != "active" {
		t.Fatalf("after the viewer's attempts a is %s", cv.State)
	}
	t.Logf("operator: drained s (the page showed %v) and activated it, dry run, history; viewer: buttons disabled, API 403", seen)
}

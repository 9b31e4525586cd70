// Switchyard's web console: plain JavaScript over the admin API. The
// token lives in this tab's sessionStorage and goes out as a bearer token;
// the API decides what a role may do, the page greys out the rest.
"use strict";

const roles = { viewer: 1, operator: 2, admin: 3 };
const state = { token: sessionStorage.getItem("switchyard-token") || "", role: "", name: "", timer: 0, page: "" };

function $(id) { return document.getElementById(id); }

// h builds an element: h("td", {class: "num"}, "3").
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "disabled") el.disabled = true;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function svg(tag, attrs) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

async function api(method, path, body) {
  const opts = { method, headers: { Authorization: "Bearer " + state.token } };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const resp = await fetch(path, opts);
  const text = await resp.text();
  let doc = null;
  try { doc = text ? JSON.parse(text) : null; } catch (e) { doc = { error: text }; }
  if (!resp.ok) {
    const err = new Error((doc && doc.error) || resp.status + " " + resp.statusText);
    err.status = resp.status;
    throw err;
  }
  return doc;
}

function can(role) { return (roles[state.role] || 0) >= roles[role]; }

function showError(msg) {
  const e = $("error");
  e.textContent = msg;
  e.hidden = !msg;
}

function notice(msg) {
  const n = $("notice");
  n.textContent = msg;
  n.hidden = !msg;
}

// confirmed asks in the page's dialog; resolves true on Confirm.
function confirmed(text) {
  const d = $("confirm");
  $("confirm-text").textContent = text;
  return new Promise((resolve) => {
    d.addEventListener("close", () => resolve(d.returnValue === "ok"), { once: true });
    d.returnValue = "";
    d.showModal();
  });
}

function badge(text, cls) { return h("span", { class: "badge " + (cls || "") }, text); }

function ago(t) {
  if (!t) return "";
  const s = Math.round((Date.now() - new Date(t).getTime()) / 1000);
  if (s < 60) return s + "s ago";
  if (s < 3600) return Math.round(s / 60) + "m ago";
  return Math.round(s / 3600) + "h ago";
}

function time(t) { return t ? new Date(t).toLocaleTimeString() : ""; }

function table(headers, rows) {
  return h("table", {}, h("thead", {}, h("tr", {}, headers.map((x) => h("th", {}, x)))), h("tbody", {}, rows));
}

// --- sign in ---------------------------------------------------------------

async function signIn(token) {
  state.token = token;
  try {
    const me = await api("GET", "/api/v1/whoami");
    state.role = me.role;
    state.name = me.name;
    sessionStorage.setItem("switchyard-token", token);
  } catch (e) {
    state.token = "";
    sessionStorage.removeItem("switchyard-token");
    showLogin(e.status === 401 ? "That token is not valid here." : e.message);
    return;
  }
  $("login").hidden = true;
  $("nav").hidden = false;
  $("who").hidden = false;
  $("who-name").textContent = state.name;
  $("who-role").textContent = state.role;
  showError("");
  route();
}

function showLogin(msg) {
  clearInterval(state.timer);
  $("login").hidden = false;
  $("nav").hidden = true;
  $("who").hidden = true;
  $("view").replaceChildren();
  showError(msg || "");
}

// --- pages -----------------------------------------------------------------

const pages = {
  fleet: { render: renderFleet, refresh: 2000 },
  queries: { render: renderQueries, refresh: 3000 },
  history: { render: renderHistory },
  governance: { render: renderGovernance, refresh: 3000 },
  policy: { render: renderPolicy },
  alerts: { render: renderAlerts, refresh: 5000 },
};

function route() {
  if (!state.token) return showLogin();
  const name = (location.hash || "#fleet").slice(1);
  const page = pages[name] ? name : "fleet";
  for (const p of Object.keys(pages)) $("nav-" + p).classList.toggle("active", p === page);
  clearInterval(state.timer);
  state.page = page;
  notice("");
  const run = async (first) => {
    try {
      await pages[page].render(first);
      showError("");
    } catch (e) {
      if (e.status === 401) return showLogin("The token was refused: sign in again.");
      showError(e.message);
    }
  };
  $("view").replaceChildren();
  run(true);
  if (pages[page].refresh) state.timer = setInterval(() => run(false), pages[page].refresh);
}

function spark(points) {
  const el = svg("svg", { class: "spark", viewBox: "0 0 140 28", preserveAspectRatio: "none" });
  if (points.length < 2) return el;
  const max = Math.max(1, ...points.map((p) => p.running + p.queued));
  const line = (key) => points.map((p, i) => (i * 140 / (points.length - 1)).toFixed(1) + "," + (27 - p[key] * 26 / max).toFixed(1)).join(" ");
  el.append(svg("polyline", { class: "running", points: line("running") }), svg("polyline", { class: "queued", points: line("queued") }));
  el.append(svg("title", {}));
  el.lastChild.textContent = "running (blue) and queued (amber), last " + points.length + " samples; peak " + max;
  return el;
}

async function act(what, method, path, body) {
  if (!(await confirmed(what + "?"))) return;
  try {
    await api(method, path, body);
    notice(what + ": done.");
    await renderFleet(false);
  } catch (e) {
    showError(what + ": " + e.message);
  }
}

async function renderFleet() {
  const [clusters, groups, load] = await Promise.all([
    api("GET", "/api/v1/clusters"), api("GET", "/api/v1/groups"), api("GET", "/api/v1/fleet/load"),
  ]);
  const operator = can("operator");
  const why = operator ? undefined : "needs the operator role";
  const up = clusters.filter((c) => c.state === "active" && c.health === "healthy").length;
  const running = clusters.reduce((n, c) => n + (c.load.running || 0), 0);
  const queued = clusters.reduce((n, c) => n + (c.load.queued || 0), 0);
  const cards = h("div", { class: "cards" },
    h("div", { class: "card" }, h("b", { id: "clusters-up" }, up + " / " + clusters.length), "clusters taking queries"),
    h("div", { class: "card" }, h("b", {}, running), "queries running"),
    h("div", { class: "card" }, h("b", {}, queued), "queries queued in Trino"),
    h("div", { class: "card" }, h("b", {}, groups.length), "routing groups"));
  const rows = clusters.map((c) => {
    const points = load.map((s) => s.clusters[c.name] || { running: 0, queued: 0 });
    const coords = c.coordinators.map((co) => h("div", {},
      co.name + " ", badge(co.state, "health-" + co.state), co.takesNewQueries && co.state === "healthy" ? " serving" : "",
      co.health && co.health.restarts ? h("span", { class: "muted" }, " " + co.health.restarts + " restarts") : ""));
    let progress = "";
    if (c.drain && c.state === "draining") {
      progress = "draining: " + c.drain.running + " running, " + c.drain.queued + " queued" + (c.drain.timedOut ? ", past its timeout" : "") +
        "; deadline " + time(c.drain.deadline);
    } else if (c.drain && c.state === "drained") {
      progress = "drained " + ago(c.drain.finished);
    }
    if (c.autoRecovery) progress = "auto-recovery: " + c.autoRecovery.reason + " (" + ago(c.autoRecovery.since) + ")";
    return h("tr", { id: "cluster-" + c.name },
      h("td", {}, h("b", {}, c.name)),
      h("td", {}, c.group),
      h("td", {}, h("span", { class: "badge state state-" + c.state, "data-state": c.state }, c.state)),
      h("td", {}, h("span", { class: "badge health health-" + c.health, "data-health": c.health }, c.health)),
      h("td", { class: "num" }, c.load.running), h("td", { class: "num" }, c.load.queued), h("td", { class: "num" }, c.load.activeWorkers),
      h("td", { class: "num" }, c.weight),
      h("td", {}, coords),
      h("td", {}, spark(points)),
      h("td", { class: "progress" }, progress),
      h("td", {},
        h("button", { id: "drain-" + c.name, disabled: !operator || c.state !== "active", title: why,
          onclick: () => act("Drain cluster " + c.name + " (no new queries; it becomes drained when its running queries end)", "POST", "/api/v1/clusters/" + c.name + "/drain", {}) }, "Drain"), " ",
        h("button", { id: "activate-" + c.name, disabled: !operator || c.state === "active", title: why,
          onclick: () => act("Activate cluster " + c.name + " (it takes new queries)", "POST", "/api/v1/clusters/" + c.name + "/activate") }, "Activate"), " ",
        h("button", { id: "deactivate-" + c.name, disabled: !operator || c.state === "inactive", title: why,
          onclick: () => act("Deactivate cluster " + c.name + " (no new queries at once; running ones go on)", "POST", "/api/v1/clusters/" + c.name + "/deactivate") }, "Deactivate")));
  });
  const groupRows = groups.map((g) => h("tr", {}, h("td", {}, h("b", {}, g.name)), h("td", {}, g.strategy || ""),
    h("td", {}, (g.clusters || []).join(", ")), h("td", {}, g.fallback || "")));
  const bg = h("form", { id: "bluegreen-form", class: "form-row" },
    h("label", {}, "Blue/green"),
    h("select", { id: "bg-group", "aria-label": "group" }, groups.map((g) => h("option", { value: g.name }, g.name))),
    h("input", { id: "bg-to", placeholder: "new clusters, comma-separated", "aria-label": "clusters to switch to" }),
    h("button", { id: "bluegreen", type: "submit", disabled: !operator, title: why }, "Switch"));
  bg.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const group = $("bg-group").value;
    const to = $("bg-to").value.split(",").map((s) => s.trim()).filter(Boolean);
    act("Blue/green in group " + group + ": activate " + to.join(", ") + ", then drain the group's other clusters", "POST", "/api/v1/bluegreen", { group, to });
  });
  const keep = document.activeElement && document.activeElement.id === "bg-to" ? $("bg-to").value : null;
  $("view").replaceChildren(cards,
    h("h2", {}, "Clusters"),
    table(["Cluster", "Group", "State", "Health", "Running", "Queued", "Workers", "Weight", "Coordinators", "Load (last minutes)", "Progress", "Actions"], rows),
    h("h2", {}, "Routing groups"),
    table(["Group", "Strategy", "Clusters", "Fallback"], groupRows), bg);
  if (keep !== null) { $("bg-to").value = keep; $("bg-to").focus(); }
}

async function renderQueries() {
  const v = await api("GET", "/api/v1/queries?limit=200");
  const qs = (v.queries || []).filter((q) => !["FINISHED", "FAILED"].includes(q.state));
  const rows = qs.map((q) => h("tr", { id: "query-" + q.queryId },
    h("td", {}, q.queryId), h("td", {}, q.cluster), h("td", {}, badge(q.state)), h("td", {}, q.user), h("td", {}, q.source || ""),
    h("td", { class: "num" }, ((q.elapsedMs || 0) / 1000).toFixed(1) + " s"), h("td", {}, h("code", {}, (q.query || "").slice(0, 160)))));
  $("view").replaceChildren(h("h2", {}, "Live queries across the fleet (" + qs.length + ")"),
    (v.failed && v.failed.length) ? h("p", { class: "muted" }, "not answering: " + v.failed.map((f) => f.cluster + "/" + f.coordinator + " (" + f.error + ")").join(", ")) : "",
    table(["Query", "Cluster", "State", "User", "Source", "Elapsed", "SQL"], rows));
}

async function renderHistory(first) {
  if (!first) return;
  const [hist, decisions] = await Promise.all([api("GET", "/api/v1/history?limit=500"), api("GET", "/api/v1/decisions?limit=1000")]);
  const byQuery = {};
  for (const d of decisions || []) if (d.queryId) byQuery[d.queryId] = d;
  const search = h("input", { id: "history-search", placeholder: "query ID, user, cluster, error...", "aria-label": "search the history" });
  const body = h("tbody", {});
  const draw = () => {
    const needle = search.value.trim().toLowerCase();
    const rows = (hist || []).filter((r) => !needle || JSON.stringify(r).toLowerCase().includes(needle)).slice(0, 200).map((r) => {
      const d = byQuery[r.queryId];
      const decision = d ? h("div", { class: "decision" },
        "group " + (d.group || "?") + " → " + (d.cluster || "weighted"), d.reason ? h("div", { class: "reason" }, d.reason) : "",
        (d.explanation || []).length ? h("ul", { class: "explain" }, d.explanation.map((x) => h("li", {}, x))) : "")
        : h("span", { class: "muted" }, "decided by another replica");
      const prot = (r.protection || []).map((a) => h("div", {}, a.action + (a.rule ? " (" + a.rule + ")" : "") + ": " + (a.reason || "")));
      return h("tr", { id: "history-" + r.queryId },
        h("td", {}, time(r.ended || r.created)), h("td", {}, r.queryId), h("td", {}, r.user), h("td", {}, r.cluster),
        h("td", {}, badge(r.state), r.errorName ? h("div", { class: "muted" }, r.errorName) : ""),
        h("td", {}, decision),
        h("td", {}, r.class ? "class " + r.class : "", r.queuedSeconds ? h("div", {}, "queued " + r.queuedSeconds.toFixed(1) + " s") : ""),
        h("td", {}, prot));
    });
    body.replaceChildren(...rows);
  };
  search.addEventListener("input", draw);
  draw();
  $("view").replaceChildren(h("h2", {}, "Query history"), h("div", { class: "form-row" }, search),
    h("table", {}, h("thead", {}, h("tr", {}, ["Time", "Query", "User", "Cluster", "State", "Routing decision", "Governance", "Protection"].map((x) => h("th", {}, x)))), body));
}

async function renderGovernance() {
  let usage;
  try {
    usage = await api("GET", "/api/v1/governance");
  } catch (e) {
    $("view").replaceChildren(h("p", { class: "muted" }, "Workload governance: " + e.message));
    return;
  }
  const queue = await api("GET", "/api/v1/governance/queue");
  // Limits of 0 are none.
  const limit = (l) => Object.entries(l || {}).filter(([, v]) => v).map(([k, v]) => k + " " + v).join(", ") || "none";
  const used = (u) => Object.entries(u || {}).filter(([, b]) => b && (b.limit || b.used)).map(([k, b]) =>
    k + " " + (Math.round(b.used * 100) / 100) + (b.limit ? " of " + b.limit : "") + (b.resets && b.limit ? " (resets " + time(b.resets) + ")" : "")).join(", ") || "";
  const classes = (usage.classes || []).map((c) => h("tr", { id: "class-" + c.name }, h("td", {}, h("b", {}, c.name)), h("td", { class: "num" }, c.priority),
    h("td", { class: "num" }, c.running), h("td", { class: "num" }, c.queued), h("td", {}, limit(c.limits)), h("td", {}, limit(c.perUser)),
    h("td", {}, used(c.usage), (c.users || []).slice(0, 5).map((u) => h("div", { class: "muted" }, u.user + ": " + u.running + " running, " + u.queued + " queued" + (used(u.usage) ? ", " + used(u.usage) : ""))))));
  const entries = (Array.isArray(queue) ? queue : (queue.entries || queue.queue || [])).map((e) => h("tr", {},
    h("td", {}, e.position ?? ""), h("td", {}, e.id || ""), h("td", {}, e.class || ""), h("td", {}, e.user || ""), h("td", {}, e.state || ""), h("td", {}, e.reason || "")));
  $("view").replaceChildren(
    h("h2", {}, "Workload classes" + (usage.enabled ? "" : " (governance is off)")),
    table(["Class", "Priority", "Running", "Queued", "Limits", "Per user", "Usage"], classes),
    h("h2", {}, "The gateway's queue (" + (usage.queued || 0) + ")"),
    table(["Position", "ID", "Class", "User", "State", "Reason"], entries));
}

async function renderPolicy() {
  let p = null;
  try { p = await api("GET", "/api/v1/policy"); } catch (e) { if (e.status !== 404) throw e; }
  const info = p ? h("div", {},
    h("p", {}, "Version ", h("code", { id: "policy-version" }, p.version), ", loaded ", time(p.loaded), "."),
    h("p", { id: "policy-tests" }, "Tests: " + ((p.tests && p.tests.passed) || 0) + " passed, " + ((p.tests && p.tests.failed) || 0) + " failed."),
    h("p", { class: "muted" }, "Files: " + (p.files || []).join(", ")))
    : h("p", { class: "muted" }, "No policy is configured: queries go to the group they name, else the default group.");
  const form = h("form", { id: "dry-form" },
    h("div", { class: "form-row" }, h("label", { for: "dry-user" }, "User"), h("input", { id: "dry-user", value: "alice" }),
      h("label", { for: "dry-source" }, "Source"), h("input", { id: "dry-source", value: "trino-cli" })),
    h("textarea", { id: "dry-sql", "aria-label": "SQL" }, "SELECT count(*) FROM tpch.tiny.nation"),
    h("div", { class: "form-row" }, h("button", { id: "dry-run", class: "primary", type: "submit" }, "Decide")));
  const out = h("div", { id: "dry-result" });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const r = await api("POST", "/api/v1/policy/eval", {
        sql: $("dry-sql").value, headers: { "X-Trino-User": $("dry-user").value, "X-Trino-Source": $("dry-source").value },
      });
      const d = r.decision || {};
      out.replaceChildren(
        h("p", { id: "dry-outcome" }, d.error ? "Refused: " + d.error : "Routed: group " + (d.group || "?") + ", route " + (r.route || "?")),
        d.reason ? h("p", {}, "Because: " + d.reason) : "",
        (d.explanation || []).length ? h("ul", { class: "explain" }, d.explanation.map((x) => h("li", {}, x))) : "",
        h("p", { class: "muted" }, "Statement: " + ((r.classification && r.classification.type) || "?") + (d.tables && d.tables.length ? ", tables " + d.tables.join(", ") : "")));
    } catch (e) {
      out.replaceChildren(h("p", { id: "dry-outcome" }, "Error: " + e.message));
    }
  });
  $("view").replaceChildren(h("h2", {}, "Policy"), info, h("h2", {}, "Dry run"),
    h("p", { class: "muted" }, "What the gateway would do with a query: nothing is run, logged or counted."), form, out);
}

async function renderAlerts() {
  const [alerts, ar, prot] = await Promise.all([
    api("GET", "/api/v1/alerts"),
    api("GET", "/api/v1/autorecovery").catch(() => null),
    api("GET", "/api/v1/protection/actions?limit=20").catch(() => []),
  ]);
  const alertRows = (alerts.alerts || []).map((a) => h("tr", {},
    h("td", {}, h("b", {}, (a.labels && a.labels.alertname) || "")), h("td", {}, (a.labels && a.labels.severity) || ""),
    h("td", {}, Object.entries(a.labels || {}).filter(([k]) => k !== "alertname" && k !== "severity").map(([k, v]) => k + "=" + v).join(" ")),
    h("td", {}, (a.annotations && a.annotations.summary) || ""), h("td", {}, ago(a.startsAt))));
  const arRows = ar ? (ar.actions || []).map((e) => h("tr", {}, h("td", {}, time(e.time)), h("td", {}, e.path), h("td", {}, e.detail || ""))) : [];
  const out = ar ? (ar.clustersOut || []).map((c) => h("li", {}, c.cluster + ": " + c.reason + " (" + ago(c.since) + ")")) : [];
  const protRows = (prot || []).map((a) => h("tr", {}, h("td", {}, time(a.time)), h("td", {}, a.action), h("td", {}, a.rule || ""),
    h("td", {}, a.cluster || ""), h("td", {}, a.user || ""), h("td", {}, a.reason || "")));
  $("view").replaceChildren(
    h("h2", {}, "Firing alerts"),
    alerts.configured ? table(["Alert", "Severity", "Labels", "Summary", "Since"], alertRows)
      : h("p", { class: "muted" }, "No Alertmanager configured (console.alertmanagerURL)."),
    h("h2", {}, "Auto-recovery" + (ar && ar.enabled ? "" : " (off)")),
    out.length ? h("ul", {}, out) : h("p", { class: "muted" }, "No cluster is held out."),
    table(["Time", "Action", "Reason"], arRows),
    h("h2", {}, "Query protection"),
    table(["Time", "Action", "Rule", "Cluster", "User", "Reason"], protRows));
}

// --- start -----------------------------------------------------------------

window.addEventListener("hashchange", route);
document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    signIn($("token").value.trim());
  });
  $("logout").addEventListener("click", () => {
    sessionStorage.removeItem("switchyard-token");
    state.token = "";
    showLogin("Signed out.");
  });
  if (state.token) signIn(state.token);
  else showLogin();
});

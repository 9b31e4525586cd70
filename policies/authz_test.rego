package switchyard.authz_test

import rego.v1

import data.switchyard.authz

check(user, method, path, owner) := d if {
	d := authz.decision with input as {
		"request": {"user": user, "method": method, "path": path},
		"query": {"id": "q1", "owner": owner},
	}
}

test_owner_may_read_own_query if {
	check("alice", "GET", "/v1/query/q1", "alice").allow
}

test_others_may_not_read_a_query if {
	d := check("bob", "GET", "/v1/query/q1", "alice")
	not d.allow
	d.reason == "user bob may not read query q1: only its owner (alice) or an administrator may"
}

test_ui_query_details_are_the_owners if {
	check("alice", "GET", "/ui/api/query/q1", "alice").allow
	not check("bob", "GET", "/ui/api/query/q1", "alice").allow
	not check("bob", "GET", "/_sy/blue/0/ui/api/query/q1", "alice").allow
	check("alice", "GET", "/_sy/blue/0/ui/api/query/q1", "alice").allow
}

test_public_reads if {
	check("bob", "GET", "/v1/info", "").allow
	check("bob", "GET", "/v1/info/state", "").allow
	check("bob", "GET", "/v1/query", "").allow
	check("bob", "GET", "/ui/", "").allow
	check("bob", "GET", "/_sy/blue/0/ui/query.html", "").allow
	check("bob", "GET", "/ui/api/stats", "").allow
}

test_management_endpoints_are_closed if {
	every p in ["/v1/node", "/v1/status", "/metrics", "/v1/jmx/mbean", "/v1/thread", "/v1/task", "/ui/api/query", "/ui/api/worker"] {
		d := check("bob", "GET", p, "")
		not d.allow
		d.reason == sprintf("user bob may not GET %s: it is closed on the client listener unless the policy opens it (settings.admins, settings.open_endpoints)", [p])
	}
	not check("bob", "PUT", "/v1/info/state", "").allow
}

test_admin_may_manage if {
	check("admin", "GET", "/v1/node", "").allow
	check("admin", "GET", "/v1/query/q1", "alice").allow
}

test_opened_endpoint if {
	authz.decision.allow with input as {"request": {"user": "prometheus", "method": "GET", "path": "/metrics"}, "query": {"id": "", "owner": ""}}
		with data.switchyard.settings.open_endpoints as [{"prefix": "/metrics", "users": ["prometheus"]}]
	not authz.decision.allow with input as {"request": {"user": "bob", "method": "GET", "path": "/metrics"}, "query": {"id": "", "owner": ""}}
		with data.switchyard.settings.open_endpoints as [{"prefix": "/metrics", "users": ["prometheus"]}]
}

test_owner_may_kill if {
	check("alice", "PUT", "/v1/query/q1/killed", "alice").allow
}

test_others_may_not_kill if {
	d := check("bob", "PUT", "/v1/query/q1/killed", "alice")
	not d.allow
	d.reason == "user bob may not kill query q1: only its owner (alice) or an administrator may"
}

test_admin_may_kill if {
	check("admin", "DELETE", "/v1/query/q1", "alice").allow
}

test_unknown_owner_cannot_be_killed_by_users if {
	not check("bob", "PUT", "/v1/query/q1/killed", "").allow
}

test_other_writes_denied if {
	d := check("bob", "POST", "/v1/something", "")
	not d.allow
	d.reason == "user bob may not POST /v1/something: it is closed on the client listener unless the policy opens it (settings.admins, settings.open_endpoints)"
}

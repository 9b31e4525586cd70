package switchyard.authz_test

import rego.v1

import data.switchyard.authz

check(user, method, path, owner) := d if {
	d := authz.decision with input as {
		"request": {"user": user, "method": method, "path": path},
		"query": {"id": "q1", "owner": owner},
	}
}

test_reads_are_open if {
	check("bob", "GET", "/v1/query/q1", "alice").allow
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
	d.reason == "user bob may not POST /v1/something"
}

# Switchyard authorization policy for requests that are not query
# submissions (Envoy ext_authz): the web UI, the query REST API, killing
# queries, server information. data.switchyard.authz.decision.
package switchyard.authz

import rego.v1

settings := data.switchyard.settings

req := input.request

admin if req.user in settings.admins

# Killing or cancelling a query through the REST API.
kills if {
	req.method == "PUT"
	endswith(req.path, "/killed")
}

kills if {
	req.method == "DELETE"
	startswith(req.path, "/v1/query/")
}

default allow := false

# Reading is open: the UI, server info, query lists and details.
allow if {
	req.method in {"GET", "HEAD"}
}

# Admins may do anything; users may kill their own queries.
allow if admin

allow if {
	kills
	input.query.owner != ""
	input.query.owner == req.user
}

reason := "" if allow

reason := sprintf("user %s may not kill query %s: only its owner (%s) or an administrator may", [req.user, input.query.id, owner_name]) if {
	not allow
	kills
}

reason := sprintf("user %s may not %s %s", [req.user, req.method, req.path]) if {
	not allow
	not kills
}

owner_name := input.query.owner if input.query.owner != ""

owner_name := "unknown" if input.query.owner == ""

decision := {"allow": allow, "reason": reason}

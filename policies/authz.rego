# Authorization of the client requests that are not query submissions
# (Envoy ext_authz): the web UI, the query REST API, killing queries,
# server information. data.switchyard.authz.decision.
#
# With authentication on, input.request.user is the verified user (the
# principal, or the user it may impersonate) and input.request.principal
# the verified identity; without it, the user is X-Trino-User as sent.
package switchyard.authz

import rego.v1

settings := data.switchyard.settings

req := input.request

admin if req.user in settings.admins

# The path without the gateway's prefix (/_sy/{cluster}/{coordinator}),
# which the web UI's pages of a query carry.
path := p if {
	startswith(req.path, "/_sy/")
	parts := split(req.path, "/")
	count(parts) > 4
	p := concat("/", array.concat([""], array.slice(parts, 4, count(parts))))
}

path := req.path if not startswith(req.path, "/_sy/")

# Endpoints a user is given by name: settings.open_endpoints lists
# {"prefix": "/metrics", "users": ["prometheus"]}.
opened if {
	some e in object.get(settings, "open_endpoints", [])
	startswith(path, e.prefix)
	req.user in e.users
}

reads if req.method in {"GET", "HEAD"}

# Killing or cancelling a query through the REST API.
kills if {
	req.method == "PUT"
	endswith(path, "/killed")
}

kills if {
	req.method == "DELETE"
	startswith(path, "/v1/query/")
}

# The paths of one query (its details, in the REST API and the UI's).
query_path if startswith(path, "/v1/query/")

query_path if startswith(path, "/ui/api/query/")

owner if {
	input.query.owner != ""
	input.query.owner == req.user
}

# What any user may read: server information, the web UI's pages, and
# the list of queries, which the gateway answers with the caller's own.
public_read if path in {"/v1/info", "/v1/info/state", "/v1/query"}

public_read if {
	startswith(path, "/ui/")
	not startswith(path, "/ui/api/")
}

public_read if path in {"/ui/api/stats", "/ui/api/cluster"}

default allow := false

allow if admin

allow if opened

allow if {
	reads
	public_read
}

# A query's details and killing it: its owner (or an administrator).
allow if {
	reads
	query_path
	owner
}

allow if {
	kills
	owner
}

reason := "" if allow

reason := sprintf("user %s may not kill query %s: only its owner (%s) or an administrator may", [req.user, input.query.id, owner_name]) if {
	not allow
	kills
}

reason := sprintf("user %s may not read query %s: only its owner (%s) or an administrator may", [req.user, input.query.id, owner_name]) if {
	not allow
	not kills
	reads
	query_path
}

reason := sprintf("user %s may not %s %s: it is closed on the client listener unless the policy opens it (settings.admins, settings.open_endpoints)", [req.user, req.method, req.path]) if {
	not allow
	not kills
	not query_path
}

reason := sprintf("user %s may not %s %s", [req.user, req.method, req.path]) if {
	not allow
	not kills
	not reads
	query_path
}

owner_name := input.query.owner if input.query.owner != ""

owner_name := "unknown" if input.query.owner == ""

decision := {"allow": allow, "reason": reason}

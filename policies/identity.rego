# Impersonation: may a verified principal run queries as the user its
# X-Trino-User names? data.switchyard.identity.decision, asked only when
# the gateway authenticates clients and the header differs from the
# principal. The rules are Trino's file-based impersonation rules
# (settings.impersonation, first match wins): original_user and new_user
# are regular expressions that must match the whole name; allow defaults
# to true. Without a matching rule, nobody may impersonate anybody.
package switchyard.identity

import rego.v1

rules := object.get(data.switchyard.settings, "impersonation", [])

full_match(pattern, s) if regex.match(sprintf("^(?:%s)$", [pattern]), s)

matching contains i if {
	some i, r in rules
	full_match(r.original_user, input.principal)
	full_match(r.new_user, input.user)
}

first := min(matching) if count(matching) > 0

default allow := false

allow if object.get(rules[first], "allow", true) == true

reason := "" if allow

reason := sprintf("no impersonation rule lets %s run as %s", [input.principal, input.user]) if {
	not allow
	not first
}

reason := sprintf("impersonation rule %d forbids it", [first]) if {
	not allow
	first
}

decision := {"allow": allow, "reason": reason}

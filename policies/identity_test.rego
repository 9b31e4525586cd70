package switchyard.identity_test

import rego.v1

import data.switchyard.identity

rules := [
	{"original_user": "svc_.*", "new_user": "admin", "allow": false},
	{"original_user": "svc_.*", "new_user": ".*"},
	{"original_user": "alice", "new_user": "bob"},
]

decide(principal, user) := d if {
	d := identity.decision with input as {"principal": principal, "user": user}
		with data.switchyard.settings.impersonation as rules
}

test_service_may_impersonate if {
	decide("svc_bi", "carol").allow
}

test_first_match_wins if {
	d := decide("svc_bi", "admin")
	not d.allow
	d.reason == "impersonation rule 0 forbids it"
}

test_patterns_match_whole_names if {
	not decide("alice", "bobby").allow
	not decide("xsvc_bi", "carol").allow
	decide("alice", "bob").allow
}

test_no_rule_no_impersonation if {
	d := decide("bob", "alice")
	not d.allow
	d.reason == "no impersonation rule lets bob run as alice"
}

test_default_denies_without_rules if {
	d := identity.decision with input as {"principal": "a", "user": "b"}
		with data.switchyard.settings.impersonation as []
	not d.allow
}

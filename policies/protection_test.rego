package switchyard.protection_test

import rego.v1

import data.switchyard.protection

# The settings the tests assume (the shipped defaults of data.json), so
# that an operator's own thresholds do not fail the tests.
settings := {"cross_join_classes": ["large", "huge"], "full_scan_classes": ["huge"], "big_group": "big", "full_scan_cap": "1TB", "incident_deny_after": 2, "dry_run": false}

fleet := {
	"defaultGroup": "adhoc",
	"groups": {
		"adhoc": {"clusters": ["a"], "strategy": "round-robin"},
		"big": {"clusters": ["b"], "strategy": "round-robin"},
	},
	"clusters": {
		"a": {"group": "adhoc", "tags": [], "healthy": true},
		"b": {"group": "big", "tags": [], "healthy": true},
	},
}

no_big := {"defaultGroup": "adhoc", "groups": {"adhoc": {"clusters": ["a"]}}, "clusters": {"a": {"group": "adhoc"}}}

tables := {
	"tpch.sf1.orders": {"sizeClass": "large", "rows": 1500000},
	"tpch.sf1.customer": {"sizeClass": "large", "rows": 150000},
	"tpch.sf1.lineitem": {"sizeClass": "huge", "rows": 6001215},
	"tpch.tiny.nation": {"sizeClass": "small", "rows": 25},
	"hive.web.events": {"size": "huge"},
}

now := {"unix": 1800000000, "rfc3339": "2027-01-15T08:00:00Z"}

query(o) := object.union(
	{"type": "SELECT", "explain": "", "tables": [], "tableInfo": tables, "blocks": [], "fullScans": [], "fingerprint": "f00d", "incidents": []},
	o,
)

decide(o) := d if {
	d := protection.decision with input as {"query": query(o), "fleet": fleet, "time": now}
		with data.switchyard.settings.protection as settings
}

block(inputs, where, cross) := {"tables": [t | some i in inputs; some t in i], "inputs": inputs, "where": where, "limit": false, "crossJoin": cross}

cross_join := {
	"tables": ["tpch.sf1.customer", "tpch.sf1.orders"],
	"blocks": [block([["tpch.sf1.orders"], ["tpch.sf1.customer"]], false, true)],
	"fullScans": ["tpch.sf1.customer", "tpch.sf1.orders"],
}

test_ordinary_query_untouched if {
	d := decide({"tables": ["tpch.tiny.nation"], "blocks": [block([["tpch.tiny.nation"]], true, false)]})
	d == {"deny": false}
}

test_full_scan_of_small_table_untouched if {
	d := decide({"tables": ["tpch.tiny.nation"], "blocks": [block([["tpch.tiny.nation"]], false, false)], "fullScans": ["tpch.tiny.nation"]})
	not d.deny
	count(d.rules) == 0
	not d.routingGroup
	not d.caps
	not d.dryRun
}

test_cross_join_of_two_large_tables_refused if {
	d := decide(cross_join)
	d.deny
	"cross-join-of-large-tables" in d.rules
	contains(d.reason, "tpch.sf1.orders (large, 1500000 rows)")
	contains(d.reason, "tpch.sf1.customer (large, 150000 rows)")
}

test_cross_join_with_a_small_table_allowed if {
	d := decide({"blocks": [block([["tpch.sf1.orders"], ["tpch.tiny.nation"]], true, true)]})
	not d.deny
}

test_cross_join_through_subqueries_counts_their_tables if {
	d := decide({"blocks": [block([["tpch.sf1.orders", "tpch.tiny.nation"], ["hive.web.events"]], false, true)]})
	d.deny
	contains(d.reason, "hive.web.events (huge)")
}

test_plain_explain_of_a_cross_join_allowed if {
	d := decide(object.union(cross_join, {"type": "EXPLAIN", "explain": "EXPLAIN"}))
	not d.deny
}

test_explain_analyze_of_a_cross_join_refused if {
	d := decide(object.union(cross_join, {"type": "EXPLAIN_ANALYZE", "explain": "EXPLAIN ANALYZE"}))
	d.deny
}

test_join_with_criteria_allowed if {
	d := decide({"blocks": [block([["tpch.sf1.orders"], ["tpch.sf1.customer"]], true, false)]})
	not d.deny
}

test_full_scan_of_huge_table_isolated_and_capped if {
	d := decide({"blocks": [block([["tpch.sf1.lineitem"]], false, false)], "fullScans": ["tpch.sf1.lineitem"]})
	not d.deny
	d.routingGroup == "big"
	d.caps.query_max_scan_physical_bytes == "1TB"
	"full-scan-of-huge-table" in d.rules
}

test_full_scan_without_a_big_group_only_capped if {
	d := protection.decision with input as {"query": query({"fullScans": ["tpch.sf1.lineitem"]}), "fleet": no_big, "time": now}
		with data.switchyard.settings.protection as settings
	not d.routingGroup
	d.caps.query_max_scan_physical_bytes == "1TB"
}

test_full_scan_of_large_table_untouched if {
	d := decide({"fullScans": ["tpch.sf1.orders"]})
	not d.routingGroup
	not d.caps
}

failure(t) := {"kind": "failure", "reason": "EXCEEDED_LOCAL_MEMORY_LIMIT: Query exceeded per-node memory limit of 10MB", "errorName": "EXCEEDED_LOCAL_MEMORY_LIMIT", "queryId": "q1", "user": "bob", "cluster": "a", "time": t}

t1 := {"unix": 1799990000, "rfc3339": "2027-01-15T05:13:20Z"}

test_repeat_of_failed_query_routed_with_the_failure_named if {
	d := decide({"incidents": [failure(t1)]})
	not d.deny
	d.routingGroup == "big"
	some e in d.explanation
	contains(e, "failed at 2027-01-15T05:13:20Z on cluster a: EXCEEDED_LOCAL_MEMORY_LIMIT")
}

test_second_repeat_refused_with_the_failure_named if {
	d := decide({"incidents": [failure(t1), failure(t1)]})
	d.deny
	contains(d.reason, "failed at 2027-01-15T05:13:20Z")
	contains(d.reason, "EXCEEDED_LOCAL_MEMORY_LIMIT")
	contains(d.reason, "fingerprint f00d")
}

test_repeat_without_a_big_group_runs_once_more if {
	d := protection.decision with input as {"query": query({"incidents": [failure(t1)]}), "fleet": no_big, "time": now}
		with data.switchyard.settings.protection as settings
	not d.deny
	not d.routingGroup
	some e in d.explanation
	contains(e, "there is no group big to isolate it in")
	d2 := protection.decision with input as {"query": query({"incidents": [failure(t1), failure(t1)]}), "fleet": no_big, "time": now}
		with data.switchyard.settings.protection as settings
	d2.deny
}

test_quarantined_query_refused_until_it_ends if {
	q := {"kind": "quarantine", "reason": "stage 3 skewed 9x", "time": t1, "until": {"unix": 1800003600, "rfc3339": "2027-01-15T09:00:00Z"}}
	d := decide({"incidents": [q]})
	d.deny
	contains(d.reason, "quarantined until 2027-01-15T09:00:00Z: stage 3 skewed 9x")
	ended := object.union(q, {"until": {"unix": 1799999999, "rfc3339": "x"}})
	not decide({"incidents": [ended]}).deny
}

test_dry_run_flag_reported if {
	d := protection.decision with input as {"query": query(cross_join), "fleet": fleet, "time": now}
		with data.switchyard.settings.protection as object.union(settings, {"dry_run": true})
	d.dryRun
	d.deny
}

test_ordinary_query_with_its_findings_untouched if {
	d := decide({"tables": ["tpch.sf1.orders"], "crossJoin": false, "blocks": [block([["tpch.sf1.orders"]], true, false)]})
	d == {"deny": false}
}

test_cross_join_with_its_findings_refused if {
	d := decide(object.union(cross_join, {"crossJoin": true}))
	d.deny
	"cross-join-of-large-tables" in d.rules
}

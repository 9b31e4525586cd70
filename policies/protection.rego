# Switchyard query protection: what to do with a submission before it runs,
# from what the gateway found in its SQL (cross joins and their inputs,
# full scans), what the metadata sources know of its tables (size class,
# rows, bytes) and what happened before to queries of the same shape
# (incidents by fingerprint). Switchyard evaluates
# data.switchyard.protection.decision after the routing policy; the input is
# the routing policy's (docs/policy.md) and docs/protection.md explains the
# decision. Every threshold is in data.switchyard.settings.protection.
package switchyard.protection

import rego.v1

# Imports, not rules (settings := ...): a rule is evaluated, and looked
# up, on every submission.
import data.switchyard.settings.protection as settings
import input.fleet.groups
import input.query as q

# A plain EXPLAIN does not run its query; everything else that reads
# tables does.
runs if q.explain != "EXPLAIN"

# A table's size class: what the metadata sources derived (sizeClass), or
# what the policy data states (size).
class(t) := c if {
	c := q.tableInfo[t].sizeClass
} else := c if {
	c := q.tableInfo[t].size
}

big(t) if class(t) in settings.cross_join_classes

describe(t) := sprintf("%s (%s%s)", [t, class(t), rows(t)])

rows(t) := sprintf(", %d rows", [round(q.tableInfo[t].rows)]) if is_number(q.tableInfo[t].rows)

else := ""

# ---------------------------------------------------------------------------
# Cross joins of big inputs are refused: an input is big when one of its
# tables is in a cross_join_classes size class.

cross_joins contains b if {
	runs
	some b in q.blocks
	b.crossJoin
	count([i | some i in b.inputs; some t in i; big(t)]) >= 2
}

deny contains sprintf("query protection: a cross join (a join without criteria) of %s would produce the product of their rows; add join criteria or filter the inputs", [concat(" and ", sort({describe(t) | some b in cross_joins; some i in b.inputs; some t in i; big(t)}))]) if {
	count(cross_joins) > 0
}

rules contains "cross-join-of-large-tables" if count(cross_joins) > 0

# ---------------------------------------------------------------------------
# Full scans of huge tables (no WHERE, no LIMIT in their block) run in the
# big-query group, capped in what they may scan.

huge_scans := {t | runs; some t in q.fullScans; class(t) in settings.full_scan_classes}

route_group := settings.big_group if {
	count(huge_scans) > 0
	groups[settings.big_group]
}

caps := {"query_max_scan_physical_bytes": settings.full_scan_cap} if count(huge_scans) > 0

rules contains "full-scan-of-huge-table" if count(huge_scans) > 0

explanation contains sprintf("full scan of %s: isolated in group %s, scan capped at %s", [concat(", ", sort([describe(t) | some t in huge_scans])), object.get({"g": route_group}, "g", "(none)"), settings.full_scan_cap]) if count(huge_scans) > 0

# ---------------------------------------------------------------------------
# Memory of what blew up before: a query whose shape failed on a limit (or
# was killed by the watchdog) runs in the big-query group (when there is
# one); after incident_deny_after such incidents it is refused. A
# quarantined shape is refused until its quarantine ends.

blowups := [i | some i in q.incidents; i.kind in {"failure", "killed"}]

last_blowup := blowups[0]

blowup_text := sprintf("this query (fingerprint %s) %s at %s on cluster %s: %s", [q.fingerprint, verb(last_blowup.kind), last_blowup.time.rfc3339, last_blowup.cluster, last_blowup.reason])

verb("killed") := "was killed by the watchdog"

verb("failure") := "failed"

repeat_denied if count(blowups) >= settings.incident_deny_after

deny contains sprintf("query protection: %s; it is refused after %d such incidents (ask an administrator to release fingerprint %s)", [blowup_text, count(blowups), q.fingerprint]) if {
	runs
	repeat_denied
}

rules contains "repeat-of-failed-query" if {
	runs
	count(blowups) > 0
}

repeat_group := settings.big_group if {
	runs
	count(blowups) > 0
	not repeat_denied
	groups[settings.big_group]
}

explanation contains sprintf("%s; runs in group %s", [blowup_text, settings.big_group]) if repeat_group

explanation contains sprintf("%s; there is no group %s to isolate it in", [blowup_text, settings.big_group]) if {
	runs
	count(blowups) > 0
	not repeat_denied
	not groups[settings.big_group]
}

quarantine := [i | some i in q.incidents; i.kind == "quarantine"; i.until.unix > input.time.unix]

deny contains sprintf("query protection: this query (fingerprint %s) is quarantined until %s: %s", [q.fingerprint, quarantine[0].until.rfc3339, quarantine[0].reason]) if {
	runs
	count(quarantine) > 0
}

rules contains "quarantined" if {
	runs
	count(quarantine) > 0
}

# ---------------------------------------------------------------------------
# The decision. With settings.dry_run the gateway reports what it would do
# (decision log, metrics, action log) and does none of it.

group := g if {
	g := repeat_group
} else := g if {
	g := route_group
}

optional["routingGroup"] := group

optional["caps"] := caps

#
# Most submissions have no cross join, no full scan and no history: they
# are let through after three cheap checks in one rule (every rule costs
# time on every submission), the others get the full decision.
suspect if {
	some b in q.blocks
	b.crossJoin
}

suspect if count(q.fullScans) > 0

suspect if count(q.incidents) > 0

default decision := {"deny": false}

decision := {"deny": false} if {
	# not suspect, without evaluating its three rules (crossJoin is set
	# when a block has a cross join: docs/policy.md)
	q.crossJoin == false
	q.fullScans == []
	q.incidents == []
} else := object.union(
	{
		"deny": count(deny) > 0,
		"reason": concat("; ", sort(deny)),
		"dryRun": settings.dry_run,
		"rules": rules,
		"explanation": explanation,
	},
	optional,
) if {
	suspect
}

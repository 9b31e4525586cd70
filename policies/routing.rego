# Switchyard routing policy: which routing group (or cluster) a query goes
# to, whether it may run at all, and headers to add. Switchyard evaluates
# data.switchyard.routing.decision for every query submission; the input is
# documented in docs/policy.md. Each rule below is driven by
# data.switchyard.settings (data.json), so most changes need no Rego.
package switchyard.routing

import rego.v1

settings := data.switchyard.settings

req := input.request

q := input.query

groups := input.fleet.groups

clusters := input.fleet.clusters

# ---------------------------------------------------------------------------
# Routing group: every rule that applies proposes a group with a priority;
# the highest wins. A rule only proposes a group that exists in the fleet.

# The client asked for a group (X-Trino-Routing-Group), and may use it.
proposals contains {"priority": 100, "group": req.routingGroup, "because": sprintf("X-Trino-Routing-Group asks for %s", [req.routingGroup])} if {
	req.routingGroup != ""
	not forbidden_group(req.routingGroup)
}

# The external routing service (routing.externalRouter), when it answered
# without errors, outranks the header.
proposals contains {"priority": 150, "group": input.external.routingGroup, "because": sprintf("the external routing service chose %s", [input.external.routingGroup])} if {
	input.external.routingGroup != ""
	count(input.external.errors) == 0
	groups[input.external.routingGroup]
}

# ETL tools (by X-Trino-Source) run in the ETL group.
proposals contains {"priority": 50, "group": settings.etl_group, "because": sprintf("source %s is an ETL tool", [req.source])} if {
	req.source in settings.etl_sources
	groups[settings.etl_group]
}

# Big queries (by the EXPLAIN estimate of what they read, when
# routing.cost is on) go to the group sized for them.
proposals contains {"priority": 80, "group": settings.big_group, "because": sprintf("estimated input %d MB is over %d MB", [round(q.cost.inputBytes / 1000000), round(settings.big_query_bytes / 1000000)])} if {
	q.cost.inputBytes > settings.big_query_bytes
	groups[settings.big_group]
}

# Named users are confined to the sandbox group.
proposals contains {"priority": 60, "group": settings.sandbox_group, "because": sprintf("user %s works in the sandbox", [req.user])} if {
	req.user in settings.sandbox_users
	groups[settings.sandbox_group]
}

# AI agents (by source name pattern) go to a limited group.
proposals contains {"priority": 70, "group": settings.agent_group, "because": sprintf("source %s is an AI agent", [req.source])} if {
	is_agent
	groups[settings.agent_group]
}

# Queries that touch sensitive tables go to the secure group (and only to
# its clusters tagged secure; see eligible below). Highest priority: a
# header cannot move them elsewhere.
proposals contains {"priority": 200, "group": settings.secure_group, "because": sprintf("reads %s tables: %s", [settings.pii_tag, concat(", ", sort(sensitive_tables))])} if {
	count(sensitive_tables) > 0
	groups[settings.secure_group]
}

top := max({p.priority | some p in proposals})

# The winner (among equal priorities, the first in Rego's order).
chosen := [p | some p in proposals; p.priority == top][0]

# ---------------------------------------------------------------------------
# Cluster restrictions.

sensitive_tables contains t if {
	some t in q.tables
	settings.pii_tag in q.tableInfo[t].tags
}

is_agent if {
	some pattern in settings.agent_source_patterns
	glob.match(pattern, [], req.source)
}

# Sensitive data only on clusters tagged secure.
eligible := {name | some name, c in clusters; settings.secure_tag in c.tags} if count(sensitive_tables) > 0

# DDL runs on one designated cluster (schema changes in one place).
ddl_types := {"DDL", "CREATE_TABLE", "CREATE_VIEW", "CREATE_TABLE_AS"}

cluster := settings.ddl_cluster if {
	q.type in ddl_types
	settings.ddl_cluster != ""
	clusters[settings.ddl_cluster]
	count(sensitive_tables) == 0
}

# ---------------------------------------------------------------------------
# Denials.

# Some groups are reserved: only listed users may ask for them.
forbidden_group(g) if {
	allowed := settings.group_allowlist[g]
	not req.user in allowed
}

deny contains sprintf("user %s may not use routing group %s (X-Trino-Routing-Group)", [req.user, req.routingGroup]) if {
	req.routingGroup != ""
	forbidden_group(req.routingGroup)
}

deny contains sprintf("the query reads %s tables (%s) but no cluster tagged %s exists", [settings.pii_tag, concat(", ", sort(sensitive_tables)), settings.secure_tag]) if {
	count(sensitive_tables) > 0
	count(eligible) == 0
}

deny contains "AI agents may not change data" if {
	is_agent
	q.type in {"INSERT", "DELETE", "UPDATE", "MERGE", "CREATE_TABLE_AS", "DDL", "CREATE_TABLE", "CREATE_VIEW"}
}

# ---------------------------------------------------------------------------
# Headers: agents get a run-time limit as a session property, added to the
# client's own.

headers["X-Trino-Session"] := concat(",", [sprintf("%s=%s", [k, v]) | some k, v in object.union(req.session, {"query_max_run_time": settings.agent_max_run_time})]) if is_agent

headers["X-Trino-Client-Tags"] := concat(",", array.concat(req.clientTags, ["ai-agent"])) if is_agent

# ---------------------------------------------------------------------------
# The decision.

explanation contains chosen.because

explanation contains sprintf("DDL (%s) runs on cluster %s", [q.type, cluster]) if cluster

explanation contains sprintf("only clusters tagged %s: %s", [settings.secure_tag, concat(", ", sort(eligible))]) if eligible

explanation contains "AI agent: query_max_run_time set, tagged ai-agent" if is_agent

# The parts of the decision only some queries have. (Few rules, each
# evaluated once: every rule costs time on every submission.)
optional["routingGroup"] := chosen.group

optional["cluster"] := cluster

optional["clusters"] := eligible

decision := object.union(
	{
		"allow": count(deny) == 0,
		"reason": concat("; ", deny),
		"headers": headers,
		"explanation": explanation,
	},
	optional,
)

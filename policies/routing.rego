# Switchyard routing policy: which routing group (or cluster) a query goes
# to, whether it may run at all, and headers to add. Switchyard evaluates
# data.switchyard.routing.decision for every query submission; the input is
# documented in docs/policy.md. Each rule below is driven by
# data.switchyard.settings (data.json), so most changes need no Rego.
package switchyard.routing

import rego.v1

# Imports, not rules (settings := data.switchyard.settings): a rule is
# evaluated, and looked up, on every submission.
import data.switchyard.settings
import input.fleet.clusters
import input.fleet.groups
import input.query as q
import input.request as req

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

# Most submissions meet none of the rules above but the workload class's:
# no routing group asked for, no external answer, no ETL source, sandbox
# user or AI agent, no big cost estimate, no sensitive table, no
# designated DDL cluster. They are decided after a few cheap checks
# (every rule and every lookup costs time on every submission); the
# others get the full decision, which would give them the same.
decision := plain_decision if plain else := full_decision

# The plain decision; governance.rego, when present, adds the workload
# class (this file decides without it).
default plain_decision := {"allow": true, "reason": "", "headers": {}, "explanation": set()}

full_decision := object.union(
	{
		"allow": count(deny) == 0,
		"reason": concat("; ", deny),
		"headers": headers,
		"explanation": explanation,
	},
	optional,
)

# No rule proposes a group, denies, adds a header or explains. (The
# checks are stricter than the rules': a submission some rule might
# concern gets the full decision.) A new rule that proposes, denies, adds
# a header, explains or sets an optional field needs a definition of
# special that catches what it acts on; routing_test.rego checks that
# decision and full_decision agree.
plain if {
	req.routingGroup == ""
	object.get(input.external, "routingGroup", "") == ""
	not special
}

# What some rule might act on (is_agent, sensitive_tables, cluster, ...
# as cheaply as each can be asked), each a definition of one rule: a
# negation of one rule costs less than a negation of each.
special if req.source in settings.etl_sources

special if req.user in settings.sandbox_users

special if {
	some pattern in settings.agent_source_patterns
	glob.match(pattern, [], req.source)
}

special if q.cost.inputBytes > settings.big_query_bytes

# count(sensitive_tables) > 0, from the (often empty) table metadata.
special if {
	some t, info in q.tableInfo
	settings.pii_tag in info.tags
	t in q.tables
}

special if {
	q.type in {"DDL", "CREATE_TABLE", "CREATE_VIEW", "CREATE_TABLE_AS"}
	settings.ddl_cluster != ""
}

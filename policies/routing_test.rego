package switchyard.routing_test

import rego.v1

import data.switchyard.routing

fleet := {
	"defaultGroup": "adhoc",
	"groups": {
		"adhoc": {"clusters": ["a"], "strategy": "round-robin"},
		"etl": {"clusters": ["e"], "strategy": "round-robin"},
		"sandbox": {"clusters": ["s"], "strategy": "round-robin"},
		"agents": {"clusters": ["g"], "strategy": "round-robin"},
		"secure": {"clusters": ["v"], "strategy": "round-robin"},
	},
	"clusters": {
		"a": {"group": "adhoc", "tags": [], "healthy": true},
		"e": {"group": "etl", "tags": [], "healthy": true},
		"s": {"group": "sandbox", "tags": [], "healthy": true},
		"g": {"group": "agents", "tags": [], "healthy": true},
		"v": {"group": "secure", "tags": ["secure"], "healthy": true},
	},
}

query(overrides) := object.union({"type": "SELECT", "tables": [], "tableInfo": {}}, overrides)

request(overrides) := object.union(
	{"user": "alice", "source": "trino-cli", "clientTags": [], "session": {}, "routingGroup": ""},
	overrides,
)

decide(r, qo) := d if {
	d := routing.decision with input as {"request": request(r), "query": query(qo), "fleet": fleet}
}

test_default_has_no_group if {
	d := decide({}, {})
	d.allow
	not d.routingGroup
	count(d.explanation) == 0
}

test_etl_source_goes_to_etl if {
	d := decide({"source": "airflow"}, {})
	d.routingGroup == "etl"
	d.explanation == {"source airflow is an ETL tool"}
}

test_sandbox_user if {
	decide({"user": "intern"}, {}).routingGroup == "sandbox"
}

test_header_is_honoured if {
	d := decide({"routingGroup": "sandbox"}, {})
	d.allow
	d.routingGroup == "sandbox"
}

test_header_beats_etl_rule if {
	decide({"source": "airflow", "routingGroup": "sandbox"}, {}).routingGroup == "sandbox"
}

test_reserved_group_denied_for_others if {
	d := decide({"routingGroup": "etl"}, {})
	not d.allow
	d.reason == "user alice may not use routing group etl (X-Trino-Routing-Group)"
}

test_reserved_group_allowed_for_listed_user if {
	d := decide({"user": "airflow", "routingGroup": "etl"}, {})
	d.allow
	d.routingGroup == "etl"
}

test_pii_goes_to_secure_clusters if {
	d := decide({"routingGroup": "sandbox"}, {"tables": ["tpch.tiny.customer"], "tableInfo": {"tpch.tiny.customer": {"tags": ["pii"]}}})
	d.allow
	d.routingGroup == "secure"
	d.clusters == {"v"}
}

test_pii_without_secure_cluster_is_denied if {
	d := routing.decision with input as {
		"request": request({}),
		"query": query({"tables": ["x.y.z"], "tableInfo": {"x.y.z": {"tags": ["pii"]}}}),
		"fleet": {"groups": {"adhoc": {}}, "clusters": {"a": {"tags": []}}},
	}
	not d.allow
	contains(d.reason, "no cluster tagged secure exists")
}

test_ddl_goes_to_designated_cluster if {
	d := decide({}, {"type": "DDL"}) with data.switchyard.settings.ddl_cluster as "a"
	d.cluster == "a"
	"DDL (DDL) runs on cluster a" in d.explanation
}

test_ddl_rule_off_without_cluster if {
	not decide({}, {"type": "DDL"}).cluster with data.switchyard.settings.ddl_cluster as ""
}

test_agent_limited_and_tagged if {
	d := decide({"source": "support-agent", "session": {"join_distribution_type": "BROADCAST"}, "clientTags": ["x"]}, {})
	d.allow
	d.routingGroup == "agents"
	d.headers["X-Trino-Session"] == sprintf("join_distribution_type=BROADCAST,query_max_run_time=%s", [data.switchyard.settings.agent_max_run_time])
	d.headers["X-Trino-Client-Tags"] == "x,ai-agent"
}

test_agent_may_not_write if {
	d := decide({"source": "agent-7"}, {"type": "INSERT"})
	not d.allow
	d.reason == "AI agents may not change data"
}

test_rule_skipped_when_group_missing if {
	d := routing.decision with input as {"request": request({"source": "dbt"}), "query": query({}), "fleet": {"groups": {"adhoc": {}}, "clusters": {}}}
	not d.routingGroup
}

test_external_router_outranks_header if {
	d := routing.decision with input as {"request": request({"routingGroup": "sandbox"}), "query": query({}), "fleet": fleet, "external": {"routingGroup": "agents", "headers": {}, "errors": []}}
	d.routingGroup == "agents"
	d.explanation == {"the external routing service chose agents"}
}

test_external_router_errors_are_ignored if {
	d := routing.decision with input as {"request": request({"routingGroup": "sandbox"}), "query": query({}), "fleet": fleet, "external": {"routingGroup": "agents", "headers": {}, "errors": ["boom"]}}
	d.routingGroup == "sandbox"
}

test_big_query_by_cost if {
	d := routing.decision with input as {
		"request": request({}),
		"query": query({"cost": {"inputBytes": 783990912}}),
		"fleet": object.union(fleet, {"groups": object.union(fleet.groups, {"big": {"clusters": []}})}),
	}
	d.routingGroup == "big"
	d.explanation == {"estimated input 784 MB is over 500 MB"}
}

test_small_query_by_cost_stays if {
	d := routing.decision with input as {
		"request": request({}),
		"query": query({"cost": {"inputBytes": 2000}}),
		"fleet": object.union(fleet, {"groups": object.union(fleet.groups, {"big": {"clusters": []}})}),
	}
	not d.routingGroup
}

# The plain path of the decision (no rule concerned, decided after a few
# checks) gives what the full rules give, for plain submissions and for
# each kind the rules act on.
test_plain_path_decides_as_the_full_rules if {
	every c in [
		[{}, {}],
		[{}, {"type": "INSERT"}],
		[{"user": "svc-reporting"}, {}],
		[{"clientTags": ["etl"]}, {"type": "DELETE"}],
		[{"source": "airflow"}, {}],
		[{"user": "intern"}, {}],
		[{"source": "support-agent"}, {"type": "SHOW"}],
		[{"routingGroup": "sandbox"}, {}],
		[{"routingGroup": "etl"}, {}],
		[{}, {"cost": {"inputBytes": 783990912}}],
		[{}, {"cost": {"inputBytes": 2000}}],
		[{}, {"tables": ["tpch.tiny.customer"], "tableInfo": {"tpch.tiny.customer": {"tags": ["pii"]}}}],
		[{}, {"tables": ["x.y.z"], "tableInfo": {"tpch.tiny.customer": {"tags": ["pii"]}}}],
		[{}, {"type": "DDL"}],
	] {
		inp := {"request": request(c[0]), "query": query(c[1]), "fleet": fleet, "external": {}}
		d := routing.decision with input as inp
		f := routing.full_decision with input as inp
		d == f
	}
}

test_plain_path_with_a_ddl_cluster if {
	inp := {"request": request({}), "query": query({"type": "CREATE_TABLE"}), "fleet": fleet, "external": {}}
	d := routing.decision with input as inp with data.switchyard.settings.ddl_cluster as "a"
	d == routing.full_decision with input as inp with data.switchyard.settings.ddl_cluster as "a"
	d.cluster == "a"
}

test_plain_path_with_an_external_answer if {
	every ext in [
		{"routingGroup": "", "headers": {}, "errors": []},
		{"routingGroup": "agents", "headers": {}, "errors": []},
		{"routingGroup": "agents", "headers": {}, "errors": ["boom"]},
	] {
		inp := {"request": request({}), "query": query({}), "fleet": fleet, "external": ext}
		d := routing.decision with input as inp
		d == routing.full_decision with input as inp
	}
}

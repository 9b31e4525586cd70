package switchyard.routing_test

import rego.v1

import data.switchyard.routing

classify(r, qo) := c if {
	c := routing.decision.class with input as {"request": request(r), "query": query(qo), "fleet": fleet}
}

no_class(r, qo) if {
	not routing.decision.class with input as {"request": request(r), "query": query(qo), "fleet": fleet}
}

test_agent_class if {
	classify({"source": "agent-sql"}, {}) == "agent"
}

test_etl_class_by_source if {
	classify({"source": "airflow"}, {"type": "INSERT"}) == "etl"
}

test_etl_class_by_tag if {
	classify({"clientTags": ["etl", "nightly"]}, {}) == "etl"
}

test_analyst_class_for_reads if {
	classify({}, {"type": "SELECT"}) == "analyst"
	classify({}, {"type": "SHOW"}) == "analyst"
}

test_writes_and_service_users_get_the_default if {
	no_class({}, {"type": "INSERT"})
	no_class({"user": "svc-reporting"}, {"type": "SELECT"})
}

test_agent_beats_etl if {
	classify({"source": "agent-loader", "clientTags": ["etl"]}, {}) == "agent"
}

test_every_class_named_is_defined if {
	every c in {"agent", "etl", "analyst"} {
		data.switchyard.governance.classes[c]
	}
	data.switchyard.governance.classes[data.switchyard.governance.defaultClass]
}

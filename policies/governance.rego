# Workload classes: which class (data.switchyard.governance.classes in
# data.json) a query belongs to. The class decides its limits (running and
# queued queries, rates, CPU and scan quotas, per class and per user), its
# queue priority and the session caps the gateway sets on it; the
# definitions live in data.json, so limits change without touching Rego.
# The first rule that matches wins; a query no rule matches gets
# data.switchyard.governance.defaultClass.
package switchyard.routing

import rego.v1

import data.switchyard.governance.classes
import data.switchyard.settings
import input.query as q
import input.request as req

# AI agents (by source name pattern) get strict quotas.
workload_class := "agent" if {
	is_agent
} else := "etl" if {
	# ETL tools (by X-Trino-Source), or a client that tags itself as ETL.
	is_etl
} else := "analyst" if {
	# People exploring data: reads from interactive tools.
	q.type in {"SELECT", "SHOW", "DESCRIBE", "EXPLAIN"}
	not req.user in settings.service_users
}

# workload_class of a submission that is no agent's and not from an ETL
# source: the routing decision's plain path (routing.rego) asks this
# instead of workload_class, so a change of the rules above is made here
# too (routing_test.rego checks both agree).
plain_class := "etl" if {
	"etl" in req.clientTags
} else := "analyst" if {
	q.type in {"SELECT", "SHOW", "DESCRIBE", "EXPLAIN"}
	not req.user in settings.service_users
}

is_etl if req.source in settings.etl_sources

is_etl if "etl" in req.clientTags

# The routing decision's plain path (routing.rego) with its class.
plain_decision := {"allow": true, "reason": "", "headers": {}, "explanation": set(), "class": c} if {
	c := plain_class
	classes[c]
}

# Only classes the data defines (a class named here but missing from
# data.json would refuse the query).
optional["class"] := workload_class if classes[workload_class]

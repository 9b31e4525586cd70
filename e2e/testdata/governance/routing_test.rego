package switchyard.routing_test

import rego.v1

import data.switchyard.routing

classes := {"limited": {}}

test_class_by_source if {
	routing.decision.class == "limited" with input as {"request": {"source": "limited"}}
		with data.switchyard.governance.classes as classes
}

test_no_class if {
	not routing.decision.class with input as {"request": {"source": "nothing-like-it"}}
		with data.switchyard.governance.classes as classes
}

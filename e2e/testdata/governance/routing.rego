# The governance tests' policy: the workload class is the query's
# X-Trino-Source when data.json defines a class of that name, else the
# default class.
package switchyard.routing

import rego.v1

classes := data.switchyard.governance.classes

class := input.request.source if classes[input.request.source]

decision := {"allow": true, "class": class}

decision := {"allow": true} if not class

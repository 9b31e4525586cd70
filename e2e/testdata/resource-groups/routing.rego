# The resource groups test's policy: every query may run; its workload
# class is its X-Trino-Source when data.json defines a class of that name.
package switchyard.routing

import rego.v1

class := input.request.source if data.switchyard.governance.classes[input.request.source]

decision := {"allow": true, "class": class}

decision := {"allow": true} if not class

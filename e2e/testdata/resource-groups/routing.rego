# A minimal routing policy: every query may run (the e2e test of resource
# groups only needs the policy's workload classes, in data.json).
package switchyard.routing

import rego.v1

decision := {"allow": true}

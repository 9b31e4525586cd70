package trino

import (
	"encoding/json"
	"testing"
)

func TestFailedQueryResultsShape(t *testing.T) {
	b := FailedQueryResults("q1", "http://gw/ui/", ErrNoClusterAvailable, `no cluster "x"`)
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	// The Java client needs id, infoUri and stats to parse the document.
	for _, k := range []string{"id", "infoUri", "stats", "error", "warnings"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("missing %q in %s", k, b)
		}
	}
	e := doc["error"].(map[string]any)
	if e["message"] != `no cluster "x"` || e["errorName"] != "NO_CLUSTER_AVAILABLE" ||
		e["errorType"] != "INSUFFICIENT_RESOURCES" || e["errorCode"].(float64) != float64(ErrNoClusterAvailable.Code) {
		t.Errorf("error object %v", e)
	}
	if doc["stats"].(map[string]any)["state"] != "FAILED" {
		t.Errorf("state %v", doc["stats"])
	}
}

func TestErrorCodesAreUnique(t *testing.T) {
	seen := map[int]string{}
	for _, c := range []ErrorCode{ErrNoClusterAvailable, ErrUnknownRoutingGroup, ErrQueryTextTooLarge, ErrQueryNotFound,
		ErrMalformedQueryID, ErrGatewayInternal, ErrNoRoute, ErrCoordinatorGone, ErrGatewayUnavailable, ErrBadRequest,
		ErrPolicyDenied, ErrPolicyError, ErrUnknownTransaction} {
		if prev, dup := seen[c.Code]; dup {
			t.Errorf("%s and %s share code %#x", prev, c.Name, c.Code)
		}
		seen[c.Code] = c.Name
	}
}

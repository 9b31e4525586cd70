package governance

import (
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/switchyard-gw/switchyard/pkg/trino"
)

// capKinds are the session properties a class may cap, by how their values
// compare. Trino takes the smaller of its configuration and the session's
// value for some of them, but uses a session's query_max_run_time and
// query_max_execution_time as they are: a cap must override what the
// client sent, not only add a default.
var capKinds = map[string]capKind{
	"query_max_execution_time":      durationCap,
	"query_max_run_time":            durationCap,
	"query_max_planning_time":       durationCap,
	"query_max_cpu_time":            durationCap,
	"query_max_memory":              sizeCap,
	"query_max_total_memory":        sizeCap,
	"query_max_scan_physical_bytes": sizeCap,
	"query_max_write_physical_size": sizeCap,
	"query_max_stage_count":         countCap,
}

type capKind int

const (
	durationCap capKind = iota
	sizeCap
	countCap
)

// ResourceOvercommit is the session property that lets a query exceed
// Trino's per-query memory limits.
const ResourceOvercommit = "resource_overcommit"

// CappableProperties lists the session properties a class may cap.
func CappableProperties() []string {
	out := make([]string, 0, len(capKinds))
	for p := range capKinds {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// validateCap checks one cap's property and value.
func validateCap(prop, value string) error {
	kind, ok := capKinds[prop]
	if !ok {
		return fmt.Errorf("not a session property the gateway can cap (it can cap %s)", strings.Join(CappableProperties(), ", "))
	}
	if _, err := capValue(kind, value); err != nil {
		return err
	}
	return nil
}

// capValue reads a value for comparison.
func capValue(kind capKind, v string) (float64, error) {
	switch kind {
	case durationCap:
		d, err := trino.ParseDuration(v)
		return float64(d), err
	case sizeCap:
		n, err := trino.ParseDataSize(v)
		return float64(n), err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("want a whole number, got %q", v)
	}
	return float64(n), nil
}

// Capped is a session after the class's caps.
type Capped struct {
	// Properties are the session properties to send (the client's, with
	// the caps applied).
	Properties map[string]string
	// Changed lists the properties set or lowered, as "name=value".
	Changed []string
}

// Apply caps the client's session properties. A property the client set
// lower stays; one it set higher, or in a form that cannot be compared,
// is replaced by the cap; one it did not set is added.
func (c *Class) Apply(props map[string]string) Capped {
	return ApplyCaps(props, c.SessionCaps)
}

// ValidateCap checks one cap: a session property the gateway can cap
// and a value of its kind.
func ValidateCap(prop, value string) error { return validateCap(prop, value) }

// ApplyCaps caps the session properties props with caps (property →
// limit), as Class.Apply does.
func ApplyCaps(props, caps map[string]string) Capped {
	out := Capped{Properties: make(map[string]string, len(props)+len(caps))}
	for k, v := range props {
		out.Properties[k] = v
	}
	for _, p := range sortedKeys(caps) {
		limit := caps[p]
		kind := capKinds[p]
		lim, err := capValue(kind, limit)
		if err != nil {
			continue // validated when the policy loaded
		}
		if v, ok := props[p]; ok {
			if have, err := capValue(kind, v); err == nil && have <= lim {
				continue
			}
		}
		out.Properties[p] = limit
		out.Changed = append(out.Changed, p+"="+limit)
	}
	return out
}

// Overcommit reports whether the session asks for resource_overcommit
// while the class does not allow it.
func (c *Class) Overcommit(props map[string]string) bool {
	return !c.AllowResourceOvercommit && strings.EqualFold(strings.TrimSpace(props[ResourceOvercommit]), "true")
}

// SessionHeader renders session properties as an X-Trino-Session value
// (name=url-encoded value, comma separated, in name order).
func SessionHeader(props map[string]string) string {
	var b strings.Builder
	for i, k := range sortedKeys(props) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(props[k]))
	}
	return b.String()
}

// AddTag adds the class's client tag to a client's tags (kept in order,
// never twice), rendered as an X-Trino-Client-Tags value.
func AddTag(tags []string, class string) string {
	tag := ClientTag(class)
	out := make([]string, 0, len(tags)+1)
	for _, t := range tags {
		// A client cannot claim a class by tagging itself.
		if !strings.HasPrefix(t, ClientTagPrefix) {
			out = append(out, t)
		}
	}
	return strings.Join(append(out, tag), ",")
}

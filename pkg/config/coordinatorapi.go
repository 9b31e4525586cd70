package config

import (
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"
)

// CoordinatorAPI configures Switchyard's one client for the coordinators'
// REST APIs: health checks (/v1/info, /metrics), drains (/v1/query,
// /v1/node, worker shutdown), cost estimates (EXPLAIN) and what comes
// after. TLS and credentials toward clusters will live here too.
type CoordinatorAPI struct {
	// User is the X-Trino-User of Switchyard's own requests (default
	// "switchyard"). EXPLAINs for cost estimates run as the user who
	// submitted the query instead.
	User string `yaml:"user"`
	// Source is the X-Trino-Source of those requests (default "switchyard").
	Source string `yaml:"source"`
	// Timeout bounds each request (default 5s). Health checks are bounded
	// by health.timeout, cost estimates by routing.cost.timeout.
	Timeout time.Duration `yaml:"timeout"`
}

func defaultCoordinatorAPI() CoordinatorAPI {
	return CoordinatorAPI{User: "switchyard", Source: "switchyard", Timeout: 5 * time.Second}
}

func (c CoordinatorAPI) validate(add func(field, format string, args ...any)) {
	if msg := identityProblem(c.User); msg != "" {
		add("coordinatorAPI.user", "%s", msg)
	}
	if msg := identityProblem(c.Source); msg != "" {
		add("coordinatorAPI.source", "%s", msg)
	}
	if c.Timeout <= 0 {
		add("coordinatorAPI.timeout", "must be positive, got %v", c.Timeout)
	}
}

// identityProblem says what is wrong with a Trino user or source name
// (empty when nothing is): 1-256 bytes of UTF-8 without spaces or control
// characters.
func identityProblem(s string) string {
	if s == "" || len(s) > 256 || !utf8.ValidString(s) {
		return fmt.Sprintf("must be a name of 1-256 bytes of UTF-8, got %q", s)
	}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return fmt.Sprintf("must be a name without spaces or control characters, got %q", s)
		}
	}
	return ""
}

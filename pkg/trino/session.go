package trino

import (
	"net/url"
	"strings"
)

// The gateway hands a client a session ID as a prepared statement, the one
// piece of session state every Trino client (CLI, JDBC, Python, ODBC)
// takes from a response (X-Trino-Added-Prepare) and sends back on each
// later request of the session (X-Trino-Prepared-Statement) without any
// change to the client. The gateway removes its entry before a request
// reaches a coordinator.
const (
	// GatewaySessionName is the prepared statement's name.
	GatewaySessionName = "switchyard_session"
	// gatewaySessionSQL wraps the ID in a statement Trino would parse,
	// should one ever see it.
	gatewaySessionSQL = "SELECT 'switchyard session "
)

// GatewaySessionAdded is the X-Trino-Added-Prepare value that hands a
// client session ID id.
func GatewaySessionAdded(id string) string {
	return GatewaySessionName + "=" + url.QueryEscape(gatewaySessionSQL+id+"'")
}

// SplitPrepared reads one X-Trino-Prepared-Statement header value: the
// gateway's session ID if its entry is there (found reports the entry even
// when its ID is malformed: it is removed all the same), and the client's
// own entries, unchanged, in order.
func SplitPrepared(value string) (id string, found bool, rest []string) {
	for _, item := range strings.Split(value, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, sql, _ := strings.Cut(item, "=")
		if n, err := url.QueryUnescape(strings.TrimSpace(name)); err != nil || n != GatewaySessionName {
			rest = append(rest, item)
			continue
		}
		found = true
		if s, err := url.QueryUnescape(strings.TrimSpace(sql)); err == nil {
			if v, ok := strings.CutPrefix(s, gatewaySessionSQL); ok {
				if v, ok := strings.CutSuffix(v, "'"); ok && ValidSessionID(v) {
					id = v
				}
			}
		}
	}
	return id, found, rest
}

// ValidSessionID reports whether s can be a gateway session ID: 32
// lower-case hexadecimal digits.
func ValidSessionID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

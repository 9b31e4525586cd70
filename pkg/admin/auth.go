package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"

	"github.com/switchyard-gw/switchyard/pkg/config"
)

// Role is what a token may do.
type Role int

// Roles, in increasing power.
const (
	RoleNone Role = iota
	RoleViewer
	RoleOperator
	RoleAdmin
)

// String is the role's name in the configuration.
func (r Role) String() string {
	switch r {
	case RoleViewer:
		return config.RoleViewer
	case RoleOperator:
		return config.RoleOperator
	case RoleAdmin:
		return config.RoleAdmin
	}
	return "none"
}

func parseRole(s string) Role {
	switch s {
	case config.RoleAdmin:
		return RoleAdmin
	case config.RoleOperator:
		return RoleOperator
	case config.RoleViewer:
		return RoleViewer
	}
	return RoleNone
}

// authenticator checks bearer tokens against the SHA-256 digests of the
// configuration (tokenHash, or tokenEnv hashed when read), in constant
// time.
type authenticator struct {
	tokens []tokenEntry
}

type tokenEntry struct {
	name   string
	digest [32]byte
	role   Role
}

func newAuthenticator(tokens []config.Token) *authenticator {
	a := &authenticator{}
	for _, t := range tokens {
		var d [32]byte
		x, err := hex.DecodeString(strings.TrimPrefix(t.TokenHash, config.TokenHashPrefix))
		if err != nil || len(x) != len(d) {
			continue // refused by config validation
		}
		copy(d[:], x)
		a.tokens = append(a.tokens, tokenEntry{name: t.Name, digest: d, role: parseRole(t.Role)})
	}
	return a
}

// identify returns the role and holder name of the request's bearer token.
func (a *authenticator) identify(r *http.Request) (Role, string) {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		return RoleNone, ""
	}
	d := sha256.Sum256([]byte(tok))
	role, name := RoleNone, ""
	for _, t := range a.tokens { // no early exit: constant time in the token count
		if subtle.ConstantTimeCompare(d[:], t.digest[:]) == 1 {
			role, name = t.role, t.name
		}
	}
	return role, name
}

// require wraps a handler with a role check: no valid token is 401, a
// token whose role is too weak is 403.
func (a *authenticator) require(need Role, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		role, name := a.identify(r)
		switch {
		case role == RoleNone && len(a.tokens) == 0:
			w.Header().Set("WWW-Authenticate", `Bearer realm="switchyard"`)
			WriteError(w, http.StatusUnauthorized, "the admin API is disabled: no tokens are configured (admin.tokens)")
		case role == RoleNone:
			w.Header().Set("WWW-Authenticate", `Bearer realm="switchyard"`)
			WriteError(w, http.StatusUnauthorized, "missing or unknown bearer token (Authorization: Bearer <token>)")
		case role < need:
			WriteError(w, http.StatusForbidden, fmt.Sprintf("token %s has the %s role; this needs the %s role", name, role, need))
		default:
			h(w, r)
		}
	}
}

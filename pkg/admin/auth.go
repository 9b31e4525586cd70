package admin

import (
	"crypto/sha256"
	"crypto/subtle"
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
	RoleAdmin
)

// authenticator checks bearer tokens. Tokens are compared as SHA-256
// digests in constant time.
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
		r := RoleViewer
		if t.Role == config.RoleAdmin {
			r = RoleAdmin
		}
		a.tokens = append(a.tokens, tokenEntry{name: t.Name, digest: sha256.Sum256([]byte(t.Token)), role: r})
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
			WriteError(w, http.StatusForbidden, "token "+name+" has the viewer role; this needs the admin role")
		default:
			h(w, r)
		}
	}
}

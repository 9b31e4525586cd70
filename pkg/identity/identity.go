// Package identity verifies who sends a request on the data path: HTTP
// Basic credentials against a Trino-format password file, or the claims of
// a bearer token Envoy's jwt_authn filter verified. The verified principal,
// not X-Trino-User, is the identity the rest of the gateway sees; the
// header may name another user only where the policy allows the principal
// to impersonate it. A failure is the 401 or 403 a Trino client expects.
//
// The package knows nothing of Envoy: the ext_proc and ext_authz adapters
// fill Credentials from their messages.
package identity

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"

	"github.com/switchyard-gw/switchyard/pkg/trino"
)

// Methods of verification, as Identity.Method and the policy input name
// them.
const (
	MethodNone        = ""            // no authentication configured: the header is trusted
	MethodInsecure    = "insecure"    // plain HTTP, allowed without credentials
	MethodPassThrough = "passthrough" // the clusters verify the credentials
	MethodPassword    = "password"
	MethodJWT         = "jwt"
)

// Challenges are the WWW-Authenticate values of a 401, as Trino sends them.
const (
	ChallengeBasic  = `Basic realm="Trino"`
	ChallengeBearer = `Bearer realm="Trino"`
)

// Credentials are what a request carries.
type Credentials struct {
	// Authorization is the header as sent.
	Authorization string
	// Secure: the request arrived over TLS.
	Secure bool
	// User is X-Trino-User as sent.
	User string
	// JWT is what Envoy's jwt_authn said about a bearer token (nil: it
	// saw none).
	JWT *JWTResult
}

// JWTResult is jwt_authn's verdict on a bearer token: its claims when
// verified, else why not.
type JWTResult struct {
	Claims  map[string]any
	Failure string
}

// Identity is who a request runs as.
type Identity struct {
	// Principal is the verified identity (empty: nothing verified).
	Principal string
	// User is the user the request runs as: X-Trino-User when sent (and
	// allowed), else the principal.
	User string
	// Method says how the principal was verified.
	Method string
}

// Failure refuses a request.
type Failure struct {
	// Status is 401 (no or bad credentials) or 403 (verified, but not
	// allowed: impersonation, credentials over plain HTTP).
	Status int
	// Code is the Trino error of the JSON body.
	Code    trino.ErrorCode
	Message string
	// Challenges are the WWW-Authenticate values of a 401.
	Challenges []string
}

func (f *Failure) Error() string { return f.Message }

// Passwords checks a user's password (passwordfile.Authenticator).
type Passwords interface {
	Check(user, password string) bool
}

// Impersonation decides whether a principal may run as another user
// (the policy's data.switchyard.identity.decision).
type Impersonation interface {
	MayImpersonate(ctx context.Context, principal, user, method string) (allowed bool, reason string, err error)
}

// Options configure a Verifier.
type Options struct {
	// Passwords checks Basic credentials (nil: passwords are not a method).
	Passwords Passwords
	// JWT: bearer tokens are a method; PrincipalClaim names the claim
	// that holds the user (default "sub").
	JWT            bool
	PrincipalClaim string
	// PassThrough: credentials are forwarded for the clusters to check.
	PassThrough bool
	// AllowInsecureHTTP accepts requests without credentials over plain
	// HTTP, trusting X-Trino-User (Trino's insecure authenticator).
	AllowInsecureHTTP bool
	// Impersonation decides X-Trino-User that differs from the principal
	// (nil: never allowed).
	Impersonation Impersonation
}

// Verifier verifies requests. It is safe for concurrent use.
type Verifier struct {
	o          Options
	challenges []string
}

// New returns a verifier.
func New(o Options) *Verifier {
	if o.PrincipalClaim == "" {
		o.PrincipalClaim = "sub"
	}
	v := &Verifier{o: o}
	if o.Passwords != nil {
		v.challenges = append(v.challenges, ChallengeBasic)
	}
	if o.JWT {
		v.challenges = append(v.challenges, ChallengeBearer)
	}
	return v
}

// Verifies reports whether the verifier checks credentials itself.
func (v *Verifier) Verifies() bool { return v != nil && (v.o.Passwords != nil || v.o.JWT) }

// Verify decides who a request runs as. A nil Verifier trusts the header.
func (v *Verifier) Verify(ctx context.Context, c Credentials) (Identity, *Failure) {
	if !v.Verifies() {
		id := Identity{User: c.User}
		if v != nil && v.o.PassThrough {
			id.Method = MethodPassThrough
		}
		return id, nil
	}
	if !c.Secure {
		return v.insecure(c)
	}
	principal, method, f := v.principal(c)
	if f != nil {
		return Identity{}, f
	}
	id := Identity{Principal: principal, User: c.User, Method: method}
	if id.User == "" || id.User == principal {
		id.User = principal
		return id, nil
	}
	if v.o.Impersonation == nil {
		return Identity{}, impersonationDenied(principal, c.User, "")
	}
	ok, reason, err := v.o.Impersonation.MayImpersonate(ctx, principal, c.User, method)
	if err != nil {
		return Identity{}, &Failure{Status: http.StatusInternalServerError, Code: trino.ErrPolicyError,
			Message: fmt.Sprintf("the impersonation policy failed for user %s: %v", principal, err)}
	}
	if !ok {
		return Identity{}, impersonationDenied(principal, c.User, reason)
	}
	return id, nil
}

// insecure answers a request over plain HTTP: credentials are refused
// there, as Trino refuses them; without credentials the header is
// trusted only where the operator allowed it.
func (v *Verifier) insecure(c Credentials) (Identity, *Failure) {
	if c.Authorization != "" {
		return Identity{}, &Failure{Status: http.StatusForbidden, Code: ErrInsecureCredentials,
			Message: "Authentication over HTTP is not allowed: send credentials to the gateway's HTTPS address"}
	}
	if !v.o.AllowInsecureHTTP {
		return Identity{}, v.unauthorized("Authentication required: this gateway verifies users over HTTPS only; use its HTTPS address with a password or a token")
	}
	return Identity{User: c.User, Method: MethodInsecure}, nil
}

// principal verifies the credentials of a request over TLS: a Basic
// password against the password file, a bearer token by jwt_authn's
// verdict (which Envoy writes for every request, "Jwt is missing" when
// there is no token, so it is read only for a Bearer header).
func (v *Verifier) principal(c Credentials) (string, string, *Failure) {
	scheme, value, _ := strings.Cut(c.Authorization, " ")
	switch {
	case c.Authorization == "":
		return "", "", v.unauthorized("Authentication required: " + v.wanted())
	case strings.EqualFold(scheme, "Basic") && v.o.Passwords != nil:
		user, password, ok := decodeBasic(value)
		if !ok {
			return "", "", v.unauthorized("Malformed credentials: the Basic value is not base64 of user:password")
		}
		if user == "" || !v.o.Passwords.Check(user, password) {
			return "", "", v.unauthorized("Access Denied: Invalid credentials")
		}
		return user, MethodPassword, nil
	case strings.EqualFold(scheme, "Bearer") && v.o.JWT:
		j := c.JWT
		switch {
		case j == nil:
			return "", "", v.unauthorized("Invalid token: the bearer token could not be read")
		case j.Claims == nil && j.Failure != "":
			return "", "", v.unauthorized("Invalid token: " + j.Failure)
		case j.Claims == nil:
			return "", "", v.unauthorized("Invalid token: verification failed")
		}
		p, ok := j.Claims[v.o.PrincipalClaim].(string)
		if !ok || p == "" {
			return "", "", v.unauthorized(fmt.Sprintf("Invalid token: it has no %q claim naming the user", v.o.PrincipalClaim))
		}
		return p, MethodJWT, nil
	}
	return "", "", v.unauthorized(fmt.Sprintf("Unsupported authentication scheme %q: %s", scheme, v.wanted()))
}

func (v *Verifier) wanted() string {
	switch {
	case v.o.Passwords != nil && v.o.JWT:
		return "send a user name and password (Basic) or a bearer token"
	case v.o.Passwords != nil:
		return "send a user name and password (Basic)"
	default:
		return "send a bearer token"
	}
}

func (v *Verifier) unauthorized(msg string) *Failure {
	return &Failure{Status: http.StatusUnauthorized, Code: ErrAuthenticationFailed, Message: msg, Challenges: v.challenges}
}

func impersonationDenied(principal, user, reason string) *Failure {
	msg := fmt.Sprintf("Access Denied: User %s cannot impersonate user %s", principal, user)
	if reason != "" {
		msg += ": " + reason
	}
	return &Failure{Status: http.StatusForbidden, Code: trino.ErrPermissionDenied, Message: msg}
}

// decodeBasic reads the value of a Basic Authorization header.
func decodeBasic(v string) (user, password string, ok bool) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
	if err != nil {
		return "", "", false
	}
	return strings.Cut(string(b), ":")
}

// The gateway's authentication errors.
var (
	ErrAuthenticationFailed = trino.ErrAuthenticationFailed
	ErrInsecureCredentials  = trino.ErrInsecureCredentials
)

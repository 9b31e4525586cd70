package identity

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/switchyard-gw/switchyard/pkg/passwordfile"
	"github.com/switchyard-gw/switchyard/pkg/trino"
)

// passwords is a Passwords from a map of user to password.
type passwords map[string]string

func (p passwords) Check(user, password string) bool {
	want, ok := p[user]
	return ok && want == password
}

// impersonation answers every question the same way and records them.
type impersonation struct {
	allow  bool
	reason string
	err    error
	asked  []string // "principal>user/method"
}

func (i *impersonation) MayImpersonate(_ context.Context, principal, user, method string) (bool, string, error) {
	i.asked = append(i.asked, principal+">"+user+"/"+method)
	return i.allow, i.reason, i.err
}

func basic(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

var testPasswords = passwords{"alice": "s3cret", "bob": "hunter2", "carol": "pa:ss word"}

// wantFailure checks a failure's status, code, message (a prefix) and
// challenges.
func wantFailure(t *testing.T, id Identity, f *Failure, status int, code trino.ErrorCode, msg string, challenges []string) {
	t.Helper()
	if f == nil {
		t.Fatalf("verified as %+v, want a %d failure", id, status)
	}
	if id != (Identity{}) {
		t.Errorf("a failure came with the identity %+v", id)
	}
	if f.Status != status || f.Code != code {
		t.Errorf("failure %d %s (%q), want %d %s", f.Status, f.Code.Name, f.Message, status, code.Name)
	}
	if !strings.HasPrefix(f.Message, msg) {
		t.Errorf("message %q, want it to start with %q", f.Message, msg)
	}
	if f.Error() != f.Message {
		t.Errorf("Error() %q differs from the message %q", f.Error(), f.Message)
	}
	if !reflect.DeepEqual(f.Challenges, challenges) {
		t.Errorf("challenges %q, want %q", f.Challenges, challenges)
	}
}

func TestVerifyWithoutAuthentication(t *testing.T) {
	tests := []struct {
		name string
		v    *Verifier
		c    Credentials
		want Identity
	}{
		{"nil verifier trusts the header", nil, Credentials{User: "bob", Authorization: basic("alice", "wrong"), Secure: true}, Identity{User: "bob"}},
		{"nil verifier over plain HTTP with credentials", nil, Credentials{User: "bob", Authorization: "Bearer x"}, Identity{User: "bob"}},
		{"nil verifier without a user", nil, Credentials{}, Identity{}},
		{"no method configured", New(Options{}), Credentials{User: "bob", Authorization: "Basic !!"}, Identity{User: "bob"}},
		{"passthrough", New(Options{PassThrough: true}), Credentials{User: "bob", Authorization: basic("alice", "wrong")}, Identity{User: "bob", Method: MethodPassThrough}},
		{"passthrough ignores insecure HTTP settings", New(Options{PassThrough: true, AllowInsecureHTTP: true}), Credentials{User: "bob", Secure: true}, Identity{User: "bob", Method: MethodPassThrough}},
		{"passthrough ignores impersonation", New(Options{PassThrough: true, Impersonation: &impersonation{}}), Credentials{User: "bob"}, Identity{User: "bob", Method: MethodPassThrough}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.v.Verifies() {
				t.Fatal("Verifies() = true for a verifier without passwords or JWT")
			}
			id, f := tt.v.Verify(context.Background(), tt.c)
			if f != nil {
				t.Fatalf("refused: %+v", f)
			}
			if id != tt.want {
				t.Fatalf("identity %+v, want %+v", id, tt.want)
			}
		})
	}
}

func TestVerifies(t *testing.T) {
	for _, tt := range []struct {
		o    Options
		want bool
	}{
		{Options{}, false},
		{Options{PassThrough: true, AllowInsecureHTTP: true}, false},
		{Options{Passwords: testPasswords}, true},
		{Options{JWT: true}, true},
		{Options{Passwords: testPasswords, JWT: true}, true},
	} {
		if got := New(tt.o).Verifies(); got != tt.want {
			t.Errorf("New(%+v).Verifies() = %v, want %v", tt.o, got, tt.want)
		}
	}
}

func TestVerifyFailures(t *testing.T) {
	var (
		pw   = Options{Passwords: testPasswords}
		jwt  = Options{JWT: true}
		both = Options{Passwords: testPasswords, JWT: true}
		b    = []string{ChallengeBasic}
		bb   = []string{ChallengeBasic, ChallengeBearer}
		j    = []string{ChallengeBearer}
	)
	tests := []struct {
		name       string
		o          Options
		c          Credentials
		status     int
		code       trino.ErrorCode
		msg        string
		challenges []string
	}{
		// Plain HTTP.
		{"credentials over plain HTTP", pw, Credentials{Authorization: basic("alice", "s3cret")}, 403, ErrInsecureCredentials, "Authentication over HTTP is not allowed", nil},
		{"credentials over plain HTTP even when insecure HTTP is allowed", Options{Passwords: testPasswords, AllowInsecureHTTP: true},
			Credentials{Authorization: basic("alice", "s3cret"), User: "alice"}, 403, ErrInsecureCredentials, "Authentication over HTTP is not allowed", nil},
		{"bearer over plain HTTP", jwt, Credentials{Authorization: "Bearer abc", JWT: &JWTResult{Claims: map[string]any{"sub": "alice"}}}, 403, ErrInsecureCredentials, "Authentication over HTTP is not allowed", nil},
		{"no credentials over plain HTTP", pw, Credentials{User: "alice"}, 401, ErrAuthenticationFailed, "Authentication required: this gateway verifies users over HTTPS only", b},
		{"no credentials over plain HTTP, both methods", both, Credentials{User: "alice"}, 401, ErrAuthenticationFailed, "Authentication required", bb},

		// Missing and unreadable credentials over TLS.
		{"no credentials, passwords", pw, Credentials{Secure: true, User: "alice"}, 401, ErrAuthenticationFailed, "Authentication required: send a user name and password (Basic)", b},
		{"no credentials, JWT", jwt, Credentials{Secure: true}, 401, ErrAuthenticationFailed, "Authentication required: send a bearer token", j},
		{"no credentials, both", both, Credentials{Secure: true}, 401, ErrAuthenticationFailed, "Authentication required: send a user name and password (Basic) or a bearer token", bb},
		{"wrong password", pw, Credentials{Secure: true, Authorization: basic("alice", "nope")}, 401, ErrAuthenticationFailed, "Access Denied: Invalid credentials", b},
		{"wrong password with JWT on", both, Credentials{Secure: true, Authorization: basic("alice", "nope")}, 401, ErrAuthenticationFailed, "Access Denied: Invalid credentials", bb},
		{"another user's password", pw, Credentials{Secure: true, Authorization: basic("alice", "hunter2")}, 401, ErrAuthenticationFailed, "Access Denied: Invalid credentials", b},
		{"unknown user", pw, Credentials{Secure: true, Authorization: basic("mallory", "s3cret")}, 401, ErrAuthenticationFailed, "Access Denied: Invalid credentials", b},
		{"empty user", Options{Passwords: passwords{"": "x"}}, Credentials{Secure: true, Authorization: basic("", "x")}, 401, ErrAuthenticationFailed, "Access Denied: Invalid credentials", b},
		{"empty password", pw, Credentials{Secure: true, Authorization: basic("alice", "")}, 401, ErrAuthenticationFailed, "Access Denied: Invalid credentials", b},
		{"malformed base64", pw, Credentials{Secure: true, Authorization: "Basic !!!not-base64"}, 401, ErrAuthenticationFailed, "Malformed credentials", b},
		{"base64 without a colon", pw, Credentials{Secure: true, Authorization: "Basic " + base64.StdEncoding.EncodeToString([]byte("alice"))}, 401, ErrAuthenticationFailed, "Malformed credentials", b},
		{"Basic without a value", pw, Credentials{Secure: true, Authorization: "Basic"}, 401, ErrAuthenticationFailed, "Malformed credentials", b},
		{"unsupported scheme", pw, Credentials{Secure: true, Authorization: "Negotiate abc"}, 401, ErrAuthenticationFailed, `Unsupported authentication scheme "Negotiate": send a user name and password (Basic)`, b},
		{"bearer without JWT", pw, Credentials{Secure: true, Authorization: "Bearer abc"}, 401, ErrAuthenticationFailed, `Unsupported authentication scheme "Bearer"`, b},
		{"basic without passwords", jwt, Credentials{Secure: true, Authorization: basic("alice", "s3cret")}, 401, ErrAuthenticationFailed, `Unsupported authentication scheme "Basic": send a bearer token`, j},

		// Bearer tokens.
		{"bearer that jwt_authn could not read", jwt, Credentials{Secure: true, Authorization: "Bearer not.a.jwt"}, 401, ErrAuthenticationFailed, "Invalid token: the bearer token could not be read", j},
		{"lower-case bearer that jwt_authn could not read", both, Credentials{Secure: true, Authorization: "bearer x"}, 401, ErrAuthenticationFailed, "Invalid token: the bearer token could not be read", bb},
		{"token failed verification", jwt, Credentials{Secure: true, Authorization: "Bearer x", JWT: &JWTResult{Failure: "Jwt is expired"}}, 401, ErrAuthenticationFailed, "Invalid token: Jwt is expired", j},
		{"token without the claim", jwt, Credentials{Secure: true, Authorization: "Bearer x", JWT: &JWTResult{Claims: map[string]any{"iss": "idp"}}}, 401, ErrAuthenticationFailed, `Invalid token: it has no "sub" claim naming the user`, j},
		{"token with no claims at all", jwt, Credentials{Secure: true, Authorization: "Bearer x", JWT: &JWTResult{Claims: map[string]any{}}}, 401, ErrAuthenticationFailed, `Invalid token: it has no "sub" claim`, j},
		// jwt_authn writes a verdict for every request ("Jwt is missing"
		// without a token): only a Bearer header reads it.
		{"no credentials, jwt_authn found no token", both, Credentials{Secure: true, User: "alice", JWT: &JWTResult{Failure: "Jwt is missing"}}, 401, ErrAuthenticationFailed, "Authentication required: send a user name and password (Basic) or a bearer token", bb},
		{"wrong password, jwt_authn found no token", both, Credentials{Secure: true, Authorization: basic("alice", "nope"), JWT: &JWTResult{Failure: "Jwt is missing"}}, 401, ErrAuthenticationFailed, "Access Denied: Invalid credentials", bb},
		{"wrong password with a stray verdict", both, Credentials{Secure: true, Authorization: basic("alice", "nope"), JWT: &JWTResult{Claims: map[string]any{"sub": "alice"}}}, 401, ErrAuthenticationFailed, "Access Denied: Invalid credentials", bb},
		{"unsupported scheme with a stray verdict", both, Credentials{Secure: true, Authorization: "Token abc", JWT: &JWTResult{Claims: map[string]any{"sub": "alice"}}}, 401, ErrAuthenticationFailed, `Unsupported authentication scheme "Token"`, bb},
		{"bearer that jwt_authn could not find", both, Credentials{Secure: true, Authorization: "Bearer", JWT: &JWTResult{Failure: "Jwt is missing"}}, 401, ErrAuthenticationFailed, "Invalid token: Jwt is missing", bb},
		{"token with an empty claim", jwt, Credentials{Secure: true, Authorization: "Bearer x", JWT: &JWTResult{Claims: map[string]any{"sub": ""}}}, 401, ErrAuthenticationFailed, `Invalid token: it has no "sub" claim`, j},
		{"token with a number as the claim", jwt, Credentials{Secure: true, Authorization: "Bearer x", JWT: &JWTResult{Claims: map[string]any{"sub": 42.0}}}, 401, ErrAuthenticationFailed, `Invalid token: it has no "sub" claim`, j},
		{"token without the custom claim", Options{JWT: true, PrincipalClaim: "email"}, Credentials{Secure: true, Authorization: "Bearer x", JWT: &JWTResult{Claims: map[string]any{"sub": "alice"}}}, 401, ErrAuthenticationFailed, `Invalid token: it has no "email" claim naming the user`, j},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			imp := &impersonation{allow: true}
			tt.o.Impersonation = imp
			id, f := New(tt.o).Verify(context.Background(), tt.c)
			wantFailure(t, id, f, tt.status, tt.code, tt.msg, tt.challenges)
			if len(imp.asked) != 0 {
				t.Errorf("the impersonation policy was asked %q before the principal was verified", imp.asked)
			}
		})
	}
}

// The exact messages a Trino client prints.
func TestVerifyFailureMessages(t *testing.T) {
	v := New(Options{Passwords: testPasswords, JWT: true})
	tests := []struct {
		c    Credentials
		want string
	}{
		{Credentials{Secure: true, Authorization: basic("alice", "nope")}, "Access Denied: Invalid credentials"},
		{Credentials{Secure: true, Authorization: "Bearer x", JWT: &JWTResult{Failure: "Jwks doesn't have key to match kid or alg from Jwt"}}, "Invalid token: Jwks doesn't have key to match kid or alg from Jwt"},
		{Credentials{Secure: true, Authorization: "Digest x"}, `Unsupported authentication scheme "Digest": send a user name and password (Basic) or a bearer token`},
		{Credentials{Authorization: "Bearer x"}, "Authentication over HTTP is not allowed: send credentials to the gateway's HTTPS address"},
	}
	for _, tt := range tests {
		if _, f := v.Verify(context.Background(), tt.c); f == nil || f.Message != tt.want {
			t.Errorf("Verify(%+v) = %+v, want the message %q", tt.c, f, tt.want)
		}
	}
}

func TestVerifySuccess(t *testing.T) {
	both := Options{Passwords: testPasswords, JWT: true}
	tests := []struct {
		name string
		o    Options
		c    Credentials
		want Identity
	}{
		{"insecure HTTP allowed trusts the header", Options{Passwords: testPasswords, AllowInsecureHTTP: true}, Credentials{User: "bob"}, Identity{User: "bob", Method: MethodInsecure}},
		{"insecure HTTP allowed without a user", Options{JWT: true, AllowInsecureHTTP: true}, Credentials{}, Identity{Method: MethodInsecure}},
		{"password, no user header", both, Credentials{Secure: true, Authorization: basic("alice", "s3cret")}, Identity{Principal: "alice", User: "alice", Method: MethodPassword}},
		{"password, the same user header", both, Credentials{Secure: true, Authorization: basic("bob", "hunter2"), User: "bob"}, Identity{Principal: "bob", User: "bob", Method: MethodPassword}},
		{"password with a colon and a space", both, Credentials{Secure: true, Authorization: basic("carol", "pa:ss word")}, Identity{Principal: "carol", User: "carol", Method: MethodPassword}},
		{"lower-case scheme", both, Credentials{Secure: true, Authorization: "basic " + base64.StdEncoding.EncodeToString([]byte("alice:s3cret"))}, Identity{Principal: "alice", User: "alice", Method: MethodPassword}},
		{"padding spaces around the value", both, Credentials{Secure: true, Authorization: "Basic  " + base64.StdEncoding.EncodeToString([]byte("alice:s3cret")) + " "}, Identity{Principal: "alice", User: "alice", Method: MethodPassword}},
		{"JWT, default claim", both, Credentials{Secure: true, Authorization: "Bearer t", JWT: &JWTResult{Claims: map[string]any{"sub": "alice", "email": "a@example.com"}}}, Identity{Principal: "alice", User: "alice", Method: MethodJWT}},
		{"JWT, the same user header", both, Credentials{Secure: true, Authorization: "Bearer t", User: "alice", JWT: &JWTResult{Claims: map[string]any{"sub": "alice"}}}, Identity{Principal: "alice", User: "alice", Method: MethodJWT}},
		{"JWT, custom claim", Options{JWT: true, PrincipalClaim: "email"}, Credentials{Secure: true, Authorization: "Bearer t", JWT: &JWTResult{Claims: map[string]any{"sub": "1234", "email": "a@example.com"}}}, Identity{Principal: "a@example.com", User: "a@example.com", Method: MethodJWT}},
		// jwt_authn's verdict is read for a Bearer header only: it reports
		// "Jwt is missing" for every other request.
		{"Basic with jwt_authn's missing-token verdict", both, Credentials{Secure: true, Authorization: basic("bob", "hunter2"), JWT: &JWTResult{Failure: "Jwt is missing"}}, Identity{Principal: "bob", User: "bob", Method: MethodPassword}},
		{"Basic wins over a stray verdict", both, Credentials{Secure: true, Authorization: basic("bob", "hunter2"), JWT: &JWTResult{Claims: map[string]any{"sub": "alice"}}}, Identity{Principal: "bob", User: "bob", Method: MethodPassword}},
		{"lower-case bearer", both, Credentials{Secure: true, Authorization: "bearer t", JWT: &JWTResult{Claims: map[string]any{"sub": "alice"}}}, Identity{Principal: "alice", User: "alice", Method: MethodJWT}},
		// Without JWT as a method, a stray verdict is ignored.
		{"JWT verdict ignored when JWT is off", Options{Passwords: testPasswords}, Credentials{Secure: true, Authorization: basic("bob", "hunter2"), JWT: &JWTResult{Claims: map[string]any{"sub": "alice"}}}, Identity{Principal: "bob", User: "bob", Method: MethodPassword}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, f := New(tt.o).Verify(context.Background(), tt.c)
			if f != nil {
				t.Fatalf("refused: %d %s %q", f.Status, f.Code.Name, f.Message)
			}
			if id != tt.want {
				t.Fatalf("identity %+v, want %+v", id, tt.want)
			}
		})
	}
}

func TestVerifyImpersonation(t *testing.T) {
	const denied = "Access Denied: User alice cannot impersonate user bob"
	boom := errors.New("rego: boom")
	tests := []struct {
		name   string
		imp    *impersonation // nil: no policy
		c      Credentials
		want   Identity
		status int
		code   trino.ErrorCode
		msg    string // the whole message
		asked  []string
	}{
		{name: "no impersonation policy", c: Credentials{Secure: true, Authorization: basic("alice", "s3cret"), User: "bob"},
			status: 403, code: trino.ErrPermissionDenied, msg: denied},
		{name: "the policy says no", imp: &impersonation{}, c: Credentials{Secure: true, Authorization: basic("alice", "s3cret"), User: "bob"},
			status: 403, code: trino.ErrPermissionDenied, msg: denied, asked: []string{"alice>bob/password"}},
		{name: "the policy says no with a reason", imp: &impersonation{reason: "only service accounts may"}, c: Credentials{Secure: true, Authorization: basic("alice", "s3cret"), User: "bob"},
			status: 403, code: trino.ErrPermissionDenied, msg: denied + ": only service accounts may", asked: []string{"alice>bob/password"}},
		{name: "the policy says no to a token", imp: &impersonation{reason: "no"}, c: Credentials{Secure: true, Authorization: "Bearer t", User: "bob", JWT: &JWTResult{Claims: map[string]any{"sub": "alice"}}},
			status: 403, code: trino.ErrPermissionDenied, msg: denied + ": no", asked: []string{"alice>bob/jwt"}},
		{name: "the policy says yes", imp: &impersonation{allow: true, reason: "ignored"}, c: Credentials{Secure: true, Authorization: basic("alice", "s3cret"), User: "bob"},
			want: Identity{Principal: "alice", User: "bob", Method: MethodPassword}, asked: []string{"alice>bob/password"}},
		{name: "the policy says yes to a token", imp: &impersonation{allow: true}, c: Credentials{Secure: true, Authorization: "Bearer t", User: "bob", JWT: &JWTResult{Claims: map[string]any{"sub": "alice"}}},
			want: Identity{Principal: "alice", User: "bob", Method: MethodJWT}, asked: []string{"alice>bob/jwt"}},
		{name: "the policy fails", imp: &impersonation{allow: true, err: boom}, c: Credentials{Secure: true, Authorization: basic("alice", "s3cret"), User: "bob"},
			status: 500, code: trino.ErrPolicyError, msg: "the impersonation policy failed for user alice: rego: boom", asked: []string{"alice>bob/password"}},
		{name: "the same user is not impersonation", imp: &impersonation{err: boom}, c: Credentials{Secure: true, Authorization: basic("alice", "s3cret"), User: "alice"},
			want: Identity{Principal: "alice", User: "alice", Method: MethodPassword}},
		{name: "user names are case-sensitive", c: Credentials{Secure: true, Authorization: basic("alice", "s3cret"), User: "Alice"},
			status: 403, code: trino.ErrPermissionDenied, msg: "Access Denied: User alice cannot impersonate user Alice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Options{Passwords: testPasswords, JWT: true}
			if tt.imp != nil {
				o.Impersonation = tt.imp
			}
			id, f := New(o).Verify(context.Background(), tt.c)
			if tt.status == 0 {
				if f != nil {
					t.Fatalf("refused: %d %q", f.Status, f.Message)
				}
				if id != tt.want {
					t.Fatalf("identity %+v, want %+v", id, tt.want)
				}
			} else {
				wantFailure(t, id, f, tt.status, tt.code, tt.msg, nil)
				if f != nil && f.Message != tt.msg {
					t.Errorf("message %q, want %q", f.Message, tt.msg)
				}
			}
			if tt.imp != nil && !reflect.DeepEqual(tt.imp.asked, tt.asked) {
				t.Errorf("the policy was asked %q, want %q", tt.imp.asked, tt.asked)
			}
		})
	}
}

// A verifier hands out its challenges in Trino's order, and a failure's
// challenges are the verifier's.
func TestChallenges(t *testing.T) {
	tests := []struct {
		o    Options
		want []string
	}{
		{Options{Passwords: testPasswords}, []string{`Basic realm="Trino"`}},
		{Options{JWT: true}, []string{`Bearer realm="Trino"`}},
		{Options{Passwords: testPasswords, JWT: true}, []string{`Basic realm="Trino"`, `Bearer realm="Trino"`}},
	}
	for _, tt := range tests {
		_, f := New(tt.o).Verify(context.Background(), Credentials{Secure: true})
		if f == nil || !reflect.DeepEqual(f.Challenges, tt.want) {
			t.Errorf("options %+v: failure %+v, want the challenges %q", tt.o, f, tt.want)
		}
	}
}

// A real password file (bcrypt, Trino's format) through its
// Authenticator, as the server wires it.
func TestVerifyWithPasswordFile(t *testing.T) {
	h, err := bcrypt.GenerateFromPassword([]byte("s3cret"), passwordfile.MinBcryptCost)
	if err != nil {
		t.Fatal(err)
	}
	f, err := passwordfile.Parse(strings.NewReader("alice:" + string(h) + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	v := New(Options{Passwords: passwordfile.NewAuthenticator(f, 0)})
	id, fail := v.Verify(context.Background(), Credentials{Secure: true, Authorization: basic("alice", "s3cret")})
	if fail != nil || id != (Identity{Principal: "alice", User: "alice", Method: MethodPassword}) {
		t.Fatalf("right password: %+v %+v", id, fail)
	}
	for _, c := range []string{basic("alice", "S3cret"), basic("bob", "s3cret"), basic("alice", "")} {
		if _, fail := v.Verify(context.Background(), Credentials{Secure: true, Authorization: c}); fail == nil || fail.Status != http.StatusUnauthorized || fail.Message != "Access Denied: Invalid credentials" {
			t.Errorf("%s: %+v, want Access Denied: Invalid credentials", c, fail)
		}
	}
}

// pairs is a header iterator over key, value, key, value...
func pairs(kv ...string) func(yield func(k, v string) bool) {
	return func(yield func(k, v string) bool) {
		for i := 0; i+1 < len(kv); i += 2 {
			if !yield(kv[i], kv[i+1]) {
				return
			}
		}
	}
}

func TestRead(t *testing.T) {
	claims := map[string]any{"sub": "alice"}
	tests := []struct {
		name    string
		headers []string
		jwt     map[string]any
		want    Credentials
	}{
		{"nothing", nil, nil, Credentials{}},
		{"https", []string{"x-forwarded-proto", "https"}, nil, Credentials{Secure: true}},
		{"http", []string{"x-forwarded-proto", "http"}, nil, Credentials{}},
		{"only exactly https is TLS", []string{"x-forwarded-proto", "https, http"}, nil, Credentials{}},
		{"everything", []string{":path", "/v1/info", "authorization", "Basic abc", "x-forwarded-proto", "https", "x-trino-user", "bob", "x-trino-source", "cli"},
			map[string]any{JWTPayloadKey: claims}, Credentials{Authorization: "Basic abc", Secure: true, User: "bob", JWT: &JWTResult{Claims: claims}}},
		{"last value wins", []string{"x-trino-user", "alice", "x-trino-user", "bob", "x-forwarded-proto", "https", "x-forwarded-proto", "http"}, nil, Credentials{User: "bob"}},
		{"failed token", []string{"authorization", "Bearer x"}, map[string]any{JWTFailureKey: map[string]any{"code": 16.0, "message": "Jwt is expired"}},
			Credentials{Authorization: "Bearer x", JWT: &JWTResult{Failure: "Jwt is expired"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Read(pairs(tt.headers...), tt.jwt); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Read = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestReadJWT(t *testing.T) {
	claims := map[string]any{"sub": "alice", "aud": []any{"trino"}}
	tests := []struct {
		name string
		ns   map[string]any
		want *JWTResult
	}{
		{"no namespace", nil, nil},
		{"empty namespace", map[string]any{}, nil},
		{"payload", map[string]any{JWTPayloadKey: claims}, &JWTResult{Claims: claims}},
		{"empty payload", map[string]any{JWTPayloadKey: map[string]any{}}, &JWTResult{Claims: map[string]any{}}},
		// Claims are never nil for a verified token: nil means it failed.
		{"nil payload", map[string]any{JWTPayloadKey: map[string]any(nil)}, &JWTResult{Claims: map[string]any{}}},
		{"payload wins over failure", map[string]any{JWTPayloadKey: claims, JWTFailureKey: map[string]any{"message": "x"}}, &JWTResult{Claims: claims}},
		{"failure", map[string]any{JWTFailureKey: map[string]any{"code": 16.0, "message": "Jwt verification fails"}}, &JWTResult{Failure: "Jwt verification fails"}},
		{"failure without a message", map[string]any{JWTFailureKey: map[string]any{"code": 16.0}}, &JWTResult{Failure: "verification failed"}},
		{"failure with a non-string message", map[string]any{JWTFailureKey: map[string]any{"message": 3.0}}, &JWTResult{Failure: "verification failed"}},
		{"payload of the wrong type", map[string]any{JWTPayloadKey: "alice"}, nil},
		{"failure of the wrong type", map[string]any{JWTFailureKey: "expired"}, nil},
		{"other keys only", map[string]any{"issuer": "idp"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ReadJWT(tt.ns); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ReadJWT = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// Read and Verify together, as the adapters use them.
func TestReadThenVerify(t *testing.T) {
	v := New(Options{Passwords: testPasswords, JWT: true})
	tests := []struct {
		name    string
		headers []string
		jwt     map[string]any
		status  int
		user    string
	}{
		{"https with a password", []string{"authorization", basic("alice", "s3cret"), "x-forwarded-proto", "https"}, nil, 0, "alice"},
		{"http with a password", []string{"authorization", basic("alice", "s3cret"), "x-forwarded-proto", "http"}, nil, 403, ""},
		{"no x-forwarded-proto is plain HTTP", []string{"authorization", basic("alice", "s3cret")}, nil, 403, ""},
		{"https with a token", []string{"authorization", "Bearer t", "x-forwarded-proto", "https"}, map[string]any{JWTPayloadKey: map[string]any{"sub": "carol"}}, 0, "carol"},
		{"https with a password and jwt_authn's missing-token verdict", []string{"authorization", basic("alice", "s3cret"), "x-forwarded-proto", "https"}, map[string]any{JWTFailureKey: map[string]any{"code": 16, "message": "Jwt is missing"}}, 0, "alice"},
		{"https without credentials and jwt_authn's missing-token verdict", []string{"x-trino-user", "alice", "x-forwarded-proto", "https"}, map[string]any{JWTFailureKey: map[string]any{"code": 16, "message": "Jwt is missing"}}, 401, ""},
		{"https with a failed token", []string{"authorization", "Bearer t", "x-forwarded-proto", "https"}, map[string]any{JWTFailureKey: map[string]any{"message": "Jwt is expired"}}, 401, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, f := v.Verify(context.Background(), Read(pairs(tt.headers...), tt.jwt))
			switch {
			case tt.status == 0 && f != nil:
				t.Fatalf("refused: %d %q", f.Status, f.Message)
			case tt.status != 0 && (f == nil || f.Status != tt.status):
				t.Fatalf("got %+v %+v, want a %d", id, f, tt.status)
			case tt.status == 0 && id.User != tt.user:
				t.Fatalf("user %q, want %q", id.User, tt.user)
			}
		})
	}
}

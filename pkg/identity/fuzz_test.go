package identity

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/switchyard-gw/switchyard/pkg/trino"
)

// fuzzImpersonation allows users named ok-*, fails for err-* and denies
// the rest.
type fuzzImpersonation struct{}

func (fuzzImpersonation) MayImpersonate(_ context.Context, principal, user, method string) (bool, string, error) {
	switch {
	case strings.HasPrefix(user, "err-"):
		return false, "", errors.New("policy failed")
	case strings.HasPrefix(user, "ok-"):
		return true, "", nil
	}
	return false, "not in the list", nil
}

// FuzzVerify feeds arbitrary credentials to every kind of verifier: it
// must never panic, a failure is a 401/403/500 with a message (and
// challenges exactly for a 401), and a success never names a principal
// the credentials did not prove.
func FuzzVerify(f *testing.F) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, s := range []struct {
		auth, user string
		secure     bool
		mode       uint8
		claim      string
	}{
		{"", "", false, 0, ""},
		{"Basic " + b64("alice:s3cret"), "", true, 0, ""},
		{"Basic " + b64("alice:s3cret"), "bob", true, 0, ""},
		{"Basic " + b64("alice:s3cret"), "ok-bob", true, 1, ""},
		{"Basic " + b64("alice:s3cret"), "err-bob", true, 2, ""},
		{"basic " + b64("alice:wrong"), "alice", true, 3, ""},
		{"Basic " + b64("alice:s3cret"), "alice", false, 4, ""},
		{"Basic !!", "", true, 5, ""},
		{"Basic", "", true, 6, ""},
		{"Bearer x", "", true, 7, "alice"},
		{"Bearer x", "ok-x", true, 8, "alice"},
		{"Bearer x", "", true, 9, ""},
		{"Basic " + b64("bob:hunter2"), "", true, 64 | 8, "alice"},
		{"Basic " + b64("bob:hunter2"), "", true, 128 | 8, "Jwt is missing"},
		{"", "alice", true, 128 | 8, "Jwt is missing"},
		{"Bearer x", "", true, 128 | 8, ""},
		{"Negotiate abc", "bob", true, 10, ""},
		{" ", "\x00", true, 11, "\xff"},
	} {
		f.Add(s.auth, s.user, s.secure, s.mode, s.claim)
	}
	f.Fuzz(func(t *testing.T, auth, user string, secure bool, mode uint8, claim string) {
		// mode picks the verifier's options and what jwt_authn said.
		o := Options{AllowInsecureHTTP: mode&1 != 0, PassThrough: mode&2 != 0}
		if mode&4 == 0 {
			o.Passwords = testPasswords
		}
		if mode&8 != 0 {
			o.JWT = true
		}
		if mode&16 != 0 {
			o.PrincipalClaim = "email"
		}
		if mode&32 != 0 {
			o.Impersonation = fuzzImpersonation{}
		}
		c := Credentials{Authorization: auth, User: user, Secure: secure}
		switch mode >> 6 {
		case 1:
			c.JWT = &JWTResult{Claims: map[string]any{"sub": claim, "email": claim}}
		case 2:
			c.JWT = &JWTResult{Failure: claim}
		case 3:
			c.JWT = &JWTResult{Claims: map[string]any{"sub": 1.0}}
		}
		v := New(o)
		id, fail := v.Verify(context.Background(), c)

		if fail != nil {
			if id != (Identity{}) {
				t.Fatalf("a failure came with the identity %+v", id)
			}
			switch fail.Status {
			case http.StatusUnauthorized:
				if len(fail.Challenges) == 0 || fail.Code != ErrAuthenticationFailed {
					t.Fatalf("401 %s without challenges: %+v", fail.Code.Name, fail)
				}
			case http.StatusForbidden:
				if len(fail.Challenges) != 0 || fail.Code != trino.ErrPermissionDenied && fail.Code != ErrInsecureCredentials {
					t.Fatalf("403 %s: %+v", fail.Code.Name, fail)
				}
			case http.StatusInternalServerError:
				if len(fail.Challenges) != 0 || fail.Code != trino.ErrPolicyError {
					t.Fatalf("500 %s: %+v", fail.Code.Name, fail)
				}
			default:
				t.Fatalf("status %d: %+v", fail.Status, fail)
			}
			if fail.Message == "" || fail.Code.Name == "" {
				t.Fatalf("failure without a message or code: %+v", fail)
			}
			if !v.Verifies() {
				t.Fatalf("a verifier that checks nothing refused: %+v", fail)
			}
			return
		}

		if !v.Verifies() {
			want := Identity{User: user}
			if o.PassThrough {
				want.Method = MethodPassThrough
			}
			if id != want {
				t.Fatalf("identity %+v, want %+v", id, want)
			}
			return
		}
		if !secure {
			// Only the insecure mode lets plain HTTP through, and never
			// with credentials.
			if !o.AllowInsecureHTTP || auth != "" || id != (Identity{User: user, Method: MethodInsecure}) {
				t.Fatalf("plain HTTP accepted as %+v (auth %q, options %+v)", id, auth, o)
			}
			return
		}
		switch id.Method {
		case MethodPassword:
			if scheme, _, _ := strings.Cut(auth, " "); o.Passwords == nil || !strings.EqualFold(scheme, "Basic") {
				t.Fatalf("password identity %+v without Basic credentials %q", id, auth)
			}
			if _, ok := testPasswords[id.Principal]; !ok || id.Principal == "" {
				t.Fatalf("principal %q is not a user of the password file", id.Principal)
			}
		case MethodJWT:
			scheme, _, _ := strings.Cut(auth, " ")
			if !strings.EqualFold(scheme, "Bearer") {
				t.Fatalf("token identity %+v without a Bearer header %q", id, auth)
			}
			if !o.JWT || c.JWT == nil || c.JWT.Claims == nil || id.Principal != claim || claim == "" {
				t.Fatalf("token identity %+v from %+v (options %+v)", id, c.JWT, o)
			}
		default:
			t.Fatalf("verified with method %q: %+v", id.Method, id)
		}
		switch {
		case user == "" || user == id.Principal:
			if id.User != id.Principal {
				t.Fatalf("user %q, want the principal %q", id.User, id.Principal)
			}
		case o.Impersonation != nil && strings.HasPrefix(user, "ok-"):
			if id.User != user {
				t.Fatalf("user %q, want the impersonated %q", id.User, user)
			}
		default:
			t.Fatalf("impersonation of %q by %q allowed (options %+v)", user, id.Principal, o)
		}
	})
}

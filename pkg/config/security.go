package config

import (
	"errors"
	"net/url"
	"os"
	"time"
)

// Defaults of the client listener's authentication.
const (
	DefaultPasswordCacheSize = 1000
	DefaultJWKSCache         = 10 * time.Minute
	DefaultPrincipalClaim    = "sub"
)

// Verifies reports whether the gateway itself checks credentials
// (passwords or JWT), so the principal is known.
func (a *Authentication) Verifies() bool {
	return a != nil && (a.Password != nil || a.JWT != nil)
}

func (a *Authentication) applyDefaults() {
	if a == nil {
		return
	}
	if a.Forward == "" {
		a.Forward = ForwardUser
		if a.PassThrough {
			a.Forward = ForwardCredentials
		}
	}
	if p := a.Password; p != nil && p.CacheSize == 0 {
		p.CacheSize = DefaultPasswordCacheSize
	}
	if j := a.JWT; j != nil {
		if j.PrincipalClaim == "" {
			j.PrincipalClaim = DefaultPrincipalClaim
		}
		if j.JWKSCache == 0 {
			j.JWKSCache = DefaultJWKSCache
		}
	}
}

// validateSecurity checks the client listener's TLS and authentication.
func (l *Listener) validateSecurity(add func(field, format string, args ...any), checkAddr func(field, v string)) {
	if l.RefreshPeriod < 100*time.Millisecond {
		add("listener.refreshPeriod", "must be at least 100ms, got %v", l.RefreshPeriod)
	}
	if t := l.TLS; t != nil {
		checkAddr("listener.tls.address", t.Address)
		if t.Address == l.Address {
			add("listener.tls.address", "must differ from listener.address (%s)", l.Address)
		}
		requireFile(add, "listener.tls.certFile", t.CertFile)
		requireFile(add, "listener.tls.keyFile", t.KeyFile)
	}
	a := l.Authentication
	if a == nil {
		return
	}
	const f = "listener.authentication"
	if !a.Verifies() && !a.PassThrough {
		add(f, "names no method: set password, jwt or passThrough (or remove it)")
	}
	if a.Verifies() && l.TLS == nil {
		add(f, "passwords and tokens are only accepted over HTTPS: set listener.tls")
	}
	switch a.Forward {
	case ForwardUser:
		if a.PassThrough {
			add(f+".forward", "must be %q with passThrough (the clusters authenticate the client's credentials)", ForwardCredentials)
		}
	case ForwardCredentials:
	default:
		add(f+".forward", "must be %q or %q, got %q", ForwardUser, ForwardCredentials, a.Forward)
	}
	if p := a.Password; p != nil {
		requireFile(add, f+".password.file", p.File)
		if p.CacheSize < 1 || p.CacheSize > 1000000 {
			add(f+".password.cacheSize", "must be between 1 and 1000000, got %d", p.CacheSize)
		}
	}
	if j := a.JWT; j != nil {
		if j.Issuer == "" {
			add(f+".jwt.issuer", "is required (the iss claim every token must carry)")
		}
		switch {
		case j.JWKSFile == "" && j.JWKSURL == "":
			add(f+".jwt", "set jwksFile or jwksURL")
		case j.JWKSFile != "" && j.JWKSURL != "":
			add(f+".jwt", "set one of jwksFile and jwksURL, not both")
		case j.JWKSFile != "":
			requireFile(add, f+".jwt.jwksFile", j.JWKSFile)
		default:
			if u, err := url.Parse(j.JWKSURL); err != nil || u.Scheme != "https" || u.Host == "" {
				add(f+".jwt.jwksURL", "must be an https:// URL, got %q", j.JWKSURL)
			}
		}
		if j.JWKSCAFile != "" {
			if j.JWKSURL == "" {
				add(f+".jwt.jwksCAFile", "is only used with jwksURL")
			}
			requireFile(add, f+".jwt.jwksCAFile", j.JWKSCAFile)
		}
		if j.JWKSCache < time.Second {
			add(f+".jwt.jwksCache", "must be at least 1s, got %v", j.JWKSCache)
		}
	}
}

// requireFile checks that a file is named and readable.
func requireFile(add func(field, format string, args ...any), field, path string) {
	if path == "" {
		add(field, "is required")
		return
	}
	if _, err := os.Stat(path); err != nil {
		add(field, "%q is not readable: %v", path, errors.Unwrap(err))
	}
}

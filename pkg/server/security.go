package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/config"
	"github.com/switchyard-gw/switchyard/pkg/filewatch"
	"github.com/switchyard-gw/switchyard/pkg/identity"
	"github.com/switchyard-gw/switchyard/pkg/passwordfile"
	"github.com/switchyard-gw/switchyard/pkg/policy"
	"github.com/switchyard-gw/switchyard/pkg/xds"
)

// edgeFiles are the files of the client listener the control plane hands
// to every Envoy: the HTTPS certificate and key, the JWT key set and the
// CA of a remote key set. They are read at start and again when they
// change (a change that does not load keeps the previous contents).
type edgeFiles struct {
	mu    sync.Mutex
	tls   *xds.ListenerTLS
	jwt   *xds.JWTProvider
	path  []string // the files, for the watch
	stamp string   // theirs when last loaded
}

// newEdgeFiles reads the files the listener configuration names.
func newEdgeFiles(l config.Listener) (*edgeFiles, error) {
	e := &edgeFiles{}
	if t := l.TLS; t != nil {
		e.path = append(e.path, t.CertFile, t.KeyFile)
	}
	if a := l.Authentication; a != nil && a.JWT != nil {
		for _, p := range []string{a.JWT.JWKSFile, a.JWT.JWKSCAFile} {
			if p != "" {
				e.path = append(e.path, p)
			}
		}
	}
	return e, e.load(l)
}

// load reads every file and checks it: the certificate and key must be a
// pair, the key set a JSON Web Key Set with at least one key.
func (e *edgeFiles) load(l config.Listener) error {
	// Taken before reading: a change during the read is seen next time.
	stamp, err := filewatch.Stamp(e.path...)
	if err != nil {
		return err
	}
	var tlsOpts *xds.ListenerTLS
	if t := l.TLS; t != nil {
		cert, err := os.ReadFile(t.CertFile)
		if err != nil {
			return fmt.Errorf("listener.tls.certFile: %w", err)
		}
		key, err := os.ReadFile(t.KeyFile)
		if err != nil {
			return fmt.Errorf("listener.tls.keyFile: %w", err)
		}
		if _, err := tls.X509KeyPair(cert, key); err != nil {
			return fmt.Errorf("listener.tls: the certificate and key do not load: %w", err)
		}
		tlsOpts = &xds.ListenerTLS{Address: t.Address, CertPEM: string(cert), KeyPEM: string(key)}
	}
	var jwt *xds.JWTProvider
	if a := l.Authentication; a != nil && a.JWT != nil {
		j := a.JWT
		jwt = &xds.JWTProvider{Issuer: j.Issuer, Audiences: j.Audiences, JWKSURL: j.JWKSURL, Cache: j.JWKSCache}
		if j.JWKSFile != "" {
			b, err := os.ReadFile(j.JWKSFile)
			if err != nil {
				return fmt.Errorf("listener.authentication.jwt.jwksFile: %w", err)
			}
			if err := checkJWKS(b); err != nil {
				return fmt.Errorf("listener.authentication.jwt.jwksFile %s: %w", j.JWKSFile, err)
			}
			jwt.JWKS = string(b)
		}
		if j.JWKSCAFile != "" {
			b, err := os.ReadFile(j.JWKSCAFile)
			if err != nil {
				return fmt.Errorf("listener.authentication.jwt.jwksCAFile: %w", err)
			}
			jwt.JWKSCA = string(b)
		}
	}
	e.mu.Lock()
	e.tls, e.jwt, e.stamp = tlsOpts, jwt, stamp
	e.mu.Unlock()
	return nil
}

// checkJWKS refuses a key set Envoy would refuse (and with it the whole
// listener update).
func checkJWKS(b []byte) error {
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return fmt.Errorf("not a JSON Web Key Set: %w", err)
	}
	if len(set.Keys) == 0 {
		return errors.New("the key set has no keys")
	}
	for i, k := range set.Keys {
		if kty, _ := k["kty"].(string); kty == "" {
			return fmt.Errorf("key %d has no kty", i)
		}
	}
	return nil
}

// options are the listener's TLS and JWT options in force.
func (e *edgeFiles) options() (*xds.ListenerTLS, *xds.JWTProvider) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.tls, e.jwt
}

// watch reloads the files when they change and republishes.
func (s *Server) watchEdgeFiles(ctx context.Context) {
	s.edge.mu.Lock()
	stamp := s.edge.stamp
	s.edge.mu.Unlock()
	filewatch.Poll(ctx, s.cfg.Listener.RefreshPeriod, s.edge.path, stamp, func() error {
		if err := s.edge.load(s.cfg.Listener); err != nil {
			return err
		}
		s.log.Info("client listener files changed: publishing them", "files", s.edge.path)
		s.changes.signal()
		return nil
	}, func(err error) {
		s.log.Error("client listener files: the changed files do not load; the previous ones stay in force", "error", err)
	})
}

// buildIdentity builds the verifier of clients (nil without
// authentication) and the password file it reads.
func (s *Server) buildIdentity() error {
	a := s.cfg.Listener.Authentication
	if a == nil {
		return nil
	}
	o := identity.Options{PassThrough: a.PassThrough, AllowInsecureHTTP: a.AllowInsecureHTTP,
		Impersonation: policyImpersonation{s.policy}}
	if p := a.Password; p != nil {
		pw, err := passwordfile.Open(p.File, p.CacheSize)
		if err != nil {
			return fmt.Errorf("listener.authentication.password.file: %w", err)
		}
		s.passwords = pw
		o.Passwords = pw
	}
	if j := a.JWT; j != nil {
		o.JWT, o.PrincipalClaim = true, j.PrincipalClaim
	}
	s.identity = identity.New(o)
	return nil
}

// policyImpersonation asks the policy whether a principal may run as
// another user.
type policyImpersonation struct{ e *policy.Engine }

func (p policyImpersonation) MayImpersonate(ctx context.Context, principal, user, method string) (bool, string, error) {
	d, err := p.e.Impersonate(ctx, &policy.ImpersonationInput{Principal: principal, User: user, Method: method, Time: time.Now()})
	if err != nil {
		return false, "", err
	}
	return d.Allow, d.Reason, nil
}

// Package tlsfiles serves TLS from certificate files that operators
// rotate in place: a Reloader reads a certificate, its key and optionally
// a CA bundle for client certificates (mutual TLS), and reads them again
// when they change, so a renewed certificate is served without a restart.
// A change that does not load (a half-written file, a key that does not
// match) keeps the previous files in force and is reported.
package tlsfiles

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/filewatch"
)

// Files names the PEM files of one endpoint.
type Files struct {
	// Cert and Key are the endpoint's certificate (chain) and key.
	Cert, Key string
	// ClientCA, when set, is the CA bundle client certificates must chain
	// to: a client without one gets no answer (mutual TLS).
	ClientCA string
}

// Reloader holds the current certificate and client CAs.
type Reloader struct {
	files Files
	cur   atomic.Pointer[loaded]
}

type loaded struct {
	cert *tls.Certificate
	cas  *x509.CertPool
	// stamp is the files' sizes and modification times when read.
	stamp string
}

// New loads the files; an error names the file at fault. Watch keeps
// them current.
func New(f Files) (*Reloader, error) {
	if f.Cert == "" || f.Key == "" {
		return nil, errors.New("tls: a certificate file and a key file are both required")
	}
	r := &Reloader{files: f}
	l, err := r.load()
	if err != nil {
		return nil, err
	}
	r.cur.Store(l)
	return r, nil
}

// Watch checks the files every interval (default 5s) until ctx ends,
// loading them again once a change has settled (filewatch); onError
// hears about a change that did not load, which leaves the previous
// files in force.
func (r *Reloader) Watch(ctx context.Context, interval time.Duration, onError func(error)) {
	filewatch.Poll(ctx, interval, r.paths(), r.cur.Load().stamp, func() error {
		l, err := r.load()
		if err != nil {
			return err
		}
		r.cur.Store(l)
		return nil
	}, onError)
}

func (r *Reloader) paths() []string {
	p := []string{r.files.Cert, r.files.Key}
	if r.files.ClientCA != "" {
		p = append(p, r.files.ClientCA)
	}
	return p
}

func (r *Reloader) load() (*loaded, error) {
	st, err := filewatch.Stamp(r.paths()...)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(r.files.Cert, r.files.Key)
	if err != nil {
		return nil, fmt.Errorf("tls: certificate %s with key %s: %w", r.files.Cert, r.files.Key, err)
	}
	l := &loaded{cert: &cert, stamp: st}
	if r.files.ClientCA != "" {
		b, err := os.ReadFile(r.files.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("tls: client CA: %w", err)
		}
		l.cas = x509.NewCertPool()
		if !l.cas.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("tls: client CA %s holds no PEM certificate", r.files.ClientCA)
		}
	}
	return l, nil
}

// Certificate is the certificate in force.
func (r *Reloader) Certificate() *tls.Certificate { return r.cur.Load().cert }

// ServerConfig is a TLS 1.2+ server configuration that serves the
// certificate in force and, with a client CA, requires and verifies a
// client certificate against the CAs in force.
func (r *Reloader) ServerConfig() *tls.Config { return r.ServerConfigALPN() }

// ServerConfigALPN is ServerConfig negotiating these application
// protocols ("h2" for gRPC, which refuses a connection without it).
func (r *Reloader) ServerConfigALPN(protos ...string) *tls.Config {
	base := &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: protos}
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		l := r.cur.Load()
		c := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{*l.cert}, NextProtos: protos}
		if l.cas != nil {
			c.ClientAuth, c.ClientCAs = tls.RequireAndVerifyClientCert, l.cas
		}
		return c, nil
	}
	return base
}

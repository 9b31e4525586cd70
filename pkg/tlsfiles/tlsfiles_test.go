package tlsfiles

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/e2e/harness"
)

// serve answers TLS handshakes with cfg on loopback until the test ends.
func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				_ = c.(*tls.Conn).Handshake()
				_, _ = c.Write([]byte("ok"))
			}()
		}
	}()
	return ln.Addr().String()
}

// dial handshakes with addr trusting ca, presenting client when set, and
// returns the server certificate's serial number.
func dial(addr string, ca *harness.CA, client *harness.Pair) (string, error) {
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	cfg := &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}
	if client != nil {
		c, err := tls.LoadX509KeyPair(client.CertFile, client.KeyFile)
		if err != nil {
			return "", err
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return "", err
	}
	defer c.Close()
	// With TLS 1.3 a refused client certificate shows on the first read.
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 2)
	if _, err := c.Read(buf); err != nil {
		return "", err
	}
	return c.ConnectionState().PeerCertificates[0].SerialNumber.String(), nil
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if err := harness.Until(what, 5*time.Second, cond); err != nil {
		t.Fatal(err)
	}
}

func TestServesAndReloads(t *testing.T) {
	dir := t.TempDir()
	ca, err := harness.NewCA(dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	first, err := ca.Server("server")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var errs []error
	r, err := New(Files{Cert: first.CertFile, Key: first.KeyFile})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Watch(ctx, 20*time.Millisecond, func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() })
	}()
	defer func() { cancel(); <-done }()
	addr := serve(t, r.ServerConfig())
	s1, err := dial(addr, ca, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Rotate in place: the next handshakes get the new certificate.
	if _, err := ca.Server("server"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the renewed certificate", func() bool { s, err := dial(addr, ca, nil); return err == nil && s != s1 })
	s2, _ := dial(addr, ca, nil)
	// A key that does not match keeps the certificate in force.
	other, err := ca.Server("other")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(first.KeyFile, other.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the error", func() bool { mu.Lock(); defer mu.Unlock(); return len(errs) > 0 })
	mu.Lock()
	if !strings.Contains(errs[0].Error(), first.CertFile) {
		t.Errorf("error %v should name the certificate file", errs[0])
	}
	mu.Unlock()
	if s, err := dial(addr, ca, nil); err != nil || s != s2 {
		t.Errorf("after a bad rotation: serial %s %v, want the previous %s", s, err, s2)
	}
}

func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca, err := harness.NewCA(dir, "ca")
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := harness.NewCA(t.TempDir(), "stranger")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.Server("server")
	if err != nil {
		t.Fatal(err)
	}
	good, err := ca.Client("envoy", "envoy-1")
	if err != nil {
		t.Fatal(err)
	}
	bad, err := stranger.Client("intruder", "envoy-1")
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(Files{Cert: srv.CertFile, Key: srv.KeyFile, ClientCA: ca.CertFile})
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, r.ServerConfig())
	if _, err := dial(addr, ca, good); err != nil {
		t.Errorf("a client with the CA's certificate: %v", err)
	}
	if _, err := dial(addr, ca, nil); err == nil {
		t.Error("a client without a certificate got an answer")
	}
	if _, err := dial(addr, ca, bad); err == nil {
		t.Error("a client with another CA's certificate got an answer")
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	ca, err := harness.NewCA(dir, "ca")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ca.Server("server")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		f    Files
		want string
	}{
		{"no key", Files{Cert: p.CertFile}, "a certificate file and a key file are both required"},
		{"missing cert", Files{Cert: dir + "/nope.pem", Key: p.KeyFile}, "nope.pem"},
		{"key for cert", Files{Cert: p.KeyFile, Key: p.KeyFile}, "certificate"},
		{"CA not PEM", Files{Cert: p.CertFile, Key: p.KeyFile, ClientCA: p.KeyFile}, "holds no PEM certificate"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(c.f)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
		})
	}
	_, err = New(Files{Cert: dir + "/nope.pem", Key: p.KeyFile})
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v, want not-exist", err)
	}
}

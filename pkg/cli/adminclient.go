package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// The environment variables behind --admin, --token, --cacert, --cert
// and --key.
const (
	envAdmin  = "SWITCHYARD_ADMIN"
	envToken  = "SWITCHYARD_TOKEN"
	envCACert = "SWITCHYARD_CACERT"
	envCert   = "SWITCHYARD_CERT"
	envKey    = "SWITCHYARD_KEY"
)

// defaultAdmin is the admin API address when neither --admin nor
// SWITCHYARD_ADMIN says otherwise (the admin.address default).
const defaultAdmin = "http://127.0.0.1:9080"

// adminOptions are the --admin and --token flags of a command that calls the
// admin API.
type adminOptions struct {
	addr  string
	token string
	// caCert, cert and key are PEM files for an https admin address: the
	// CA to trust (default: the system's), and a client certificate when
	// the admin API asks for one (controlPlane.adminTLS.clientCAFile).
	caCert, cert, key string
}

// addFlags defines --admin (default from SWITCHYARD_ADMIN, shown in help)
// and --token on fs. The token's default is read from SWITCHYARD_TOKEN when
// the client is made, so help never prints a credential.
func (o *adminOptions) addFlags(fs *pflag.FlagSet) {
	def := os.Getenv(envAdmin)
	if def == "" {
		def = defaultAdmin
	}
	fs.StringVar(&o.addr, "admin", def, "control-plane admin API `URL` (env "+envAdmin+")")
	fs.StringVar(&o.token, "token", "", "admin API bearer `token` (default: env "+envToken+")")
	fs.StringVar(&o.caCert, "cacert", os.Getenv(envCACert), "CA certificate `file` (PEM) to trust for an https admin URL (env "+envCACert+")")
	fs.StringVar(&o.cert, "cert", os.Getenv(envCert), "client certificate `file` (PEM) for an admin API that asks for one (env "+envCert+")")
	fs.StringVar(&o.key, "key", os.Getenv(envKey), "the client certificate's key `file` (PEM) (env "+envKey+")")
}

// transport is the HTTP transport the TLS flags ask for (nil: the
// default).
func (o *adminOptions) transport() (*http.Transport, error) {
	if o.caCert == "" && o.cert == "" && o.key == "" {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.caCert != "" {
		b, err := os.ReadFile(o.caCert)
		if err != nil {
			return nil, fmt.Errorf("--cacert: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("--cacert: %s holds no PEM certificate", o.caCert)
		}
	}
	if (o.cert == "") != (o.key == "") {
		return nil, errors.New("--cert and --key go together")
	}
	if o.cert != "" {
		c, err := tls.LoadX509KeyPair(o.cert, o.key)
		if err != nil {
			return nil, fmt.Errorf("--cert/--key: %w", err)
		}
		tc.Certificates = []tls.Certificate{c}
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = tc
	return t, nil
}

// client is an admin API client for the flags as c parsed them.
func (o *adminOptions) client(c *cobra.Command) *adminClient {
	token := o.token
	if f := c.Flags().Lookup("token"); f == nil || !f.Changed {
		token = os.Getenv(envToken)
	}
	base := strings.TrimRight(o.addr, "/")
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	hc := &http.Client{Timeout: 5 * time.Minute}
	t, err := o.transport()
	if t != nil {
		hc.Transport = t
	}
	return &adminClient{base: base, token: token, http: hc, err: err}
}

// adminClient talks to the control plane's admin API.
type adminClient struct {
	base  string
	token string
	http  *http.Client
	err   error // the TLS flags' mistake, returned by every call
}

// APIError is an error answer of the admin API.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string { return fmt.Sprintf("admin API: %s (HTTP %d)", e.Message, e.Status) }

// do sends in (JSON, if not nil) and decodes the answer into out (if not
// nil). A non-2xx answer is an *APIError with the answer's "error" field.
func (c *adminClient) do(ctx context.Context, method, path string, in, out any) error {
	if c.err != nil {
		return c.err
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("admin API at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		return &APIError{Status: resp.StatusCode, Message: e.Error}
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

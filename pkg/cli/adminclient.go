package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// The environment variables behind --admin and --token.
const (
	envAdmin = "SWITCHYARD_ADMIN"
	envToken = "SWITCHYARD_TOKEN"
)

// defaultAdmin is the admin API address when neither --admin nor
// SWITCHYARD_ADMIN says otherwise (the admin.address default).
const defaultAdmin = "http://127.0.0.1:9080"

// adminOptions are the --admin and --token flags of a command that calls the
// admin API.
type adminOptions struct {
	addr  string
	token string
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
	return &adminClient{base: base, token: token, http: &http.Client{Timeout: 5 * time.Minute}}
}

// adminClient talks to the control plane's admin API.
type adminClient struct {
	base  string
	token string
	http  *http.Client
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

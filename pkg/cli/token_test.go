package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/config"
)

// The entry `token new` prints is a valid admin.tokens entry for the
// token it prints, with the role asked for.
func TestTokenNew(t *testing.T) {
	out, _, err := runCLI("token", "new", "--name", "oncall", "--role", "operator")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out, "\n")
	if len(lines) < 2 || !strings.HasPrefix(strings.TrimSpace(lines[1]), "sy_") {
		t.Fatalf("no token in %q", out)
	}
	tok := strings.TrimSpace(lines[1])
	entry := out[strings.Index(out, "  - name:"):]
	cfg, err := config.Parse([]byte("admin:\n  tokens:\n" + entry + "routing: {defaultGroup: a}\ngroups: [{name: a}]\n"))
	if err != nil {
		t.Fatalf("the printed entry does not validate: %v\n%s", err, entry)
	}
	got := cfg.Admin.Tokens[0]
	if got.Name != "oncall" || got.Role != config.RoleOperator || got.TokenHash != config.HashToken(tok) {
		t.Errorf("entry %+v does not accept the token %s as operator oncall", got, tok)
	}
	if strings.Contains(entry, tok) {
		t.Error("the entry holds the token itself")
	}
	out2, _, _ := runCLI("token", "new", "--name", "oncall")
	if strings.Contains(out2, tok) {
		t.Error("two tokens are the same")
	}
	if _, _, err := runCLI("token", "new", "--name", "x", "--role", "root"); err == nil || !strings.Contains(err.Error(), "--role must be viewer, operator or admin") {
		t.Errorf("bad role: %v", err)
	}
	if _, _, err := runCLI("token", "new"); err == nil {
		t.Error("no --name must be an error")
	}
}

func TestTokenHash(t *testing.T) {
	hash := func(in string) (string, error) {
		root := newRootCmd(time.Millisecond)
		var out bytes.Buffer
		root.SetArgs([]string{"token", "hash"})
		root.SetIn(strings.NewReader(in))
		root.SetOut(&out)
		root.SetErr(&out)
		_, err := root.ExecuteContextC(context.Background())
		return strings.TrimSpace(out.String()), err
	}
	got, err := hash("an-example-token-0123456789\n")
	if err != nil || got != config.HashToken("an-example-token-0123456789") {
		t.Errorf("hash %q %v", got, err)
	}
	if got, err := hash("an-example-token-0123456789"); err != nil || got != config.HashToken("an-example-token-0123456789") {
		t.Errorf("without a newline: %q %v", got, err)
	}
	if _, err := hash("short\n"); err == nil || !strings.Contains(err.Error(), "at least 16 characters") {
		t.Errorf("short token: %v", err)
	}
	if _, err := hash(""); err == nil || !strings.Contains(err.Error(), "no token on standard input") {
		t.Errorf("empty input: %v", err)
	}
}

package cli

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/switchyard-gw/switchyard/pkg/config"
)

// newTokenCmd is "switchyard token": admin API credentials for the
// configuration (local only: nothing is sent anywhere).
func newTokenCmd() *cobra.Command {
	c := newGroupCmd("token", "Make admin API tokens and the hashes the configuration holds")
	c.GroupID = groupGateway
	c.AddCommand(newTokenNewCmd(), newTokenHashCmd())
	return c
}

func newTokenNewCmd() *cobra.Command {
	var name, role string
	c := &cobra.Command{
		Use:   "new --name NAME [--role viewer|operator|admin]",
		Short: "Make a random token and print it with its admin.tokens entry",
		Long: `Make a random token (256 bits) and print it, then the admin.tokens entry
that accepts it: the configuration holds only the token's SHA-256. Give
the token to its holder; it is shown once and stored nowhere.`,
		Example: "  switchyard token new --name oncall --role operator",
		Args:    positional(),
	}
	c.Flags().StringVar(&name, "name", "", "the holder's name, as the logs and the audit log show it (required)")
	c.Flags().StringVar(&role, "role", config.RoleViewer, "viewer, operator or admin")
	check := required(c, "name")
	c.RunE = func(c *cobra.Command, _ []string) error {
		if err := check(); err != nil {
			return err
		}
		if role != config.RoleViewer && role != config.RoleOperator && role != config.RoleAdmin {
			return fmt.Errorf("--role must be %s, %s or %s, got %q", config.RoleViewer, config.RoleOperator, config.RoleAdmin, role)
		}
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return err
		}
		tok := "sy_" + base64.RawURLEncoding.EncodeToString(b)
		out := c.OutOrStdout()
		fmt.Fprintf(out, "token (give it to %s; it is not stored anywhere):\n  %s\n\n", name, tok)
		fmt.Fprintf(out, "admin.tokens entry:\n  - name: %s\n    tokenHash: %s\n    role: %s\n", name, config.HashToken(tok), role)
		return nil
	}
	return c
}

func newTokenHashCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "hash",
		Short: "Print the tokenHash of a token read from standard input",
		Long: `Read a token from standard input (one line; it is never an argument, so it
stays out of the shell's history and the process list) and print the
tokenHash the configuration holds for it.`,
		Example: "  printf %s \"$TOKEN\" | switchyard token hash",
		Args:    positional(),
	}
	c.RunE = func(c *cobra.Command, _ []string) error {
		line, err := bufio.NewReader(c.InOrStdin()).ReadString('\n')
		if err != nil && line == "" {
			return errors.New("no token on standard input")
		}
		tok := strings.TrimRight(line, "\r\n")
		if len(tok) < 16 {
			return fmt.Errorf("a token must be at least 16 characters, this one is %d", len(tok))
		}
		fmt.Fprintln(c.OutOrStdout(), config.HashToken(tok))
		return nil
	}
	return c
}

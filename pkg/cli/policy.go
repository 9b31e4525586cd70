package cli

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/spf13/cobra"

	"github.com/switchyard-gw/switchyard/pkg/policy"
)

// newPolicyCmd is "switchyard policy". test works on local files only;
// upload, decisions and eval call the admin API and take --admin and
// --token.
func newPolicyCmd() *cobra.Command {
	c := newGroupCmd("policy", "Test, dry-run (with explanation), upload routing policy; recent decisions")
	c.GroupID = groupFleet
	c.AddCommand(newPolicyTestCmd(), newPolicyEvalCmd(), newPolicyUploadCmd(), newPolicyDecisionsCmd())
	return c
}

// dirFlag is the --dir of policy test and upload.
func dirFlag(c *cobra.Command) *string {
	return c.Flags().String("dir", "policies", "policy directory")
}

func newPolicyTestCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "test [--dir DIR]",
		Short: "Compile the policy and run its Rego tests",
		Args:  positional(),
	}
	dir := dirFlag(c)
	c.RunE = func(c *cobra.Command, _ []string) error {
		b, err := policy.LoadDir(*dir)
		if err != nil {
			return err
		}
		compiled, err := policy.Compile(c.Context(), b)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.OutOrStdout(), "policy %s (%s): %d files, %d tests passed\n", *dir, compiled.Version, len(compiled.Files), compiled.Tests.Passed)
		return nil
	}
	return c
}

func newPolicyUploadCmd() *cobra.Command {
	admin := &adminOptions{}
	c := &cobra.Command{
		Use:   "upload --dir DIR",
		Short: "Validate and publish a policy to the fleet",
		Long: `Validate and publish a policy to every replica: the control plane compiles
it and runs its tests first, and refuses it if either fails.`,
		Args: positional(),
	}
	admin.addFlags(c.Flags())
	dir := dirFlag(c)
	c.RunE = func(c *cobra.Command, _ []string) error {
		b, err := policy.LoadDir(*dir)
		if err != nil {
			return err
		}
		files := map[string]string{}
		for n, content := range b.Files {
			files[n] = string(content)
		}
		var info struct {
			Version string            `json:"version"`
			Tests   policy.TestReport `json:"tests"`
		}
		if err := admin.client(c).do(c.Context(), http.MethodPut, "/api/v1/policy", map[string]any{"files": files}, &info); err != nil {
			return err
		}
		fmt.Fprintf(c.OutOrStdout(), "policy %s published (%d tests passed)\n", info.Version, info.Tests.Passed)
		return nil
	}
	return c
}

func newPolicyDecisionsCmd() *cobra.Command {
	admin := &adminOptions{}
	var limit int
	c := &cobra.Command{
		Use:   "decisions [--limit N]",
		Short: "Recent routing decisions with their explanation (JSON)",
		Args:  positional(),
	}
	admin.addFlags(c.Flags())
	c.Flags().IntVar(&limit, "limit", 20, "how many")
	c.RunE = func(c *cobra.Command, _ []string) error {
		var ds []policy.LogEntry
		if err := admin.client(c).do(c.Context(), http.MethodGet, fmt.Sprintf("/api/v1/decisions?limit=%d", limit), nil, &ds); err != nil {
			return err
		}
		enc := json.NewEncoder(c.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(ds)
	}
	return c
}

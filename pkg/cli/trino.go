package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/switchyard-gw/switchyard/pkg/governance"
	"github.com/switchyard-gw/switchyard/pkg/policy"
)

// newTrinoCmd is "switchyard trino": configuration for the fleet's Trino
// clusters, rendered from the policy (local files only).
func newTrinoCmd() *cobra.Command {
	c := newGroupCmd("trino", "Trino configuration: resource groups from the policy, node memory sizing")
	c.GroupID = groupGateway
	c.AddCommand(newTrinoResourceGroupsCmd())
	c.AddCommand(newTrinoConfigCmd())
	return c
}

func newTrinoResourceGroupsCmd() *cobra.Command {
	var dir, output string
	c := &cobra.Command{
		Use:   "resource-groups --policy DIR [--output FILE]",
		Short: "Render Trino's resource-groups.json from the workload classes",
		Long: `Render Trino's resource-groups.json (the file resource group manager's) from
the workload classes of the policy (` + governance.DataPath + `): one group a
class under a common root, per-user subgroups where the class has them, and
selectors on the client tag the gateway adds to each governed query
(` + governance.ClientTagPrefix + `<class>); every other query goes to the
unclassified group. The gateway bounds counts, rates and quotas across the
fleet; these groups bound memory and CPU inside each cluster.

Install it on every coordinator with etc/resource-groups.properties:
  resource-groups.configuration-manager=file
  resource-groups.config-file=etc/resource-groups.json`,
		Example: "  switchyard trino resource-groups --policy policies --output etc/resource-groups.json",
		Args:    positional(),
	}
	c.Flags().StringVar(&dir, "policy", "", "policy directory (required)")
	c.Flags().StringVar(&output, "output", "", "file to write (default: standard output)")
	check := required(c, "policy")
	c.RunE = func(c *cobra.Command, _ []string) error {
		if err := check(); err != nil {
			return err
		}
		b, err := policy.LoadDir(dir)
		if err != nil {
			return err
		}
		compiled, err := policy.Compile(c.Context(), b)
		if err != nil {
			return err
		}
		if compiled.Governance == nil {
			return fmt.Errorf("policy %s has no workload classes (no %s in its data): nothing to render resource groups from", dir, governance.DataPath)
		}
		out, err := governance.RenderResourceGroups(compiled.Governance)
		if err != nil {
			return err
		}
		if output == "" {
			_, err = c.OutOrStdout().Write(out)
			return err
		}
		if err := os.WriteFile(output, out, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(c.OutOrStdout(), "%s: resource groups for %d classes (policy %s)\n", output, len(compiled.Governance.Classes), compiled.Version)
		return nil
	}
	return c
}

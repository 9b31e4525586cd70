package cli

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchyard-gw/switchyard/pkg/lifecycle"
)

// shells are the shells completion prints a script for.
var shells = []string{"bash", "zsh", "fish", "powershell"}

func newCompletionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "Print a shell completion script",
		Long: `Print a shell completion script. Cluster names complete from the admin API
(--admin, --token, SWITCHYARD_ADMIN, SWITCHYARD_TOKEN) when it answers.

  bash:       source <(switchyard completion bash)
              (needs the bash-completion package)
  zsh:        switchyard completion zsh > "${fpath[1]}/_switchyard"
              (with compinit enabled)
  fish:       switchyard completion fish > ~/.config/fish/completions/switchyard.fish
  powershell: switchyard completion powershell | Out-String | Invoke-Expression`,
		Args:      positional("SHELL"),
		ValidArgs: shells,
		RunE: func(c *cobra.Command, args []string) error {
			root, out := c.Root(), c.OutOrStdout()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(out, true)
			case "zsh":
				return root.GenZshCompletion(out)
			case "fish":
				return root.GenFishCompletion(out, true)
			case "powershell":
				return root.GenPowerShellCompletionWithDesc(out)
			}
			return usageErrorf(c, "unknown shell %q: want one of %s", args[0], strings.Join(shells, ", "))
		},
	}
}

// completeTimeout bounds the admin API call behind a completion.
const completeTimeout = 2 * time.Second

// completeClusterName completes a command's first argument with the names
// of the fleet's clusters, read from the admin API. When the API does not
// answer it offers nothing and says nothing: completion must not get in
// the way of typing.
func (o *adminOptions) completeClusterName(c *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ctx := c.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, completeTimeout)
	defer cancel()
	var cs []lifecycle.ClusterView
	if err := o.client(c).do(ctx, http.MethodGet, "/api/v1/clusters", nil, &cs); err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []cobra.Completion
	for _, cl := range cs {
		if strings.HasPrefix(cl.Name, toComplete) {
			out = append(out, cobra.CompletionWithDesc(cl.Name, string(cl.State)+" in "+cl.Group))
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

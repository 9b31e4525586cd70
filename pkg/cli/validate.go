package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/switchyard-gw/switchyard/pkg/config"
)

func newValidateCmd() *cobra.Command {
	var path string
	c := &cobra.Command{
		Use:     "validate --config FILE",
		Short:   "Check a configuration file and exit",
		GroupID: groupGateway,
		Args:    positional(),
	}
	c.Flags().StringVar(&path, "config", "", "configuration file (YAML; required)")
	check := required(c, "config")
	c.RunE = func(c *cobra.Command, _ []string) error {
		if err := check(); err != nil {
			return err
		}
		cfg, err := config.Load(path)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.OutOrStdout(), "%s: ok (%d groups, %d clusters)\n", path, len(cfg.Groups), len(cfg.Clusters))
		return nil
	}
	return c
}

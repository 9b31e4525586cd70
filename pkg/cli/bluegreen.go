package cli

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchyard-gw/switchyard/pkg/lifecycle"
)

func newBlueGreenCmd(poll time.Duration) *cobra.Command {
	admin := &adminOptions{}
	var (
		group, to                   string
		healthTimeout, drainTimeout time.Duration
		wait                        bool
	)
	c := &cobra.Command{
		Use:   "bluegreen --group G --to CLUSTER[,CLUSTER]",
		Short: "Move a routing group to other clusters, draining the old ones",
		Long: `Move a routing group to other clusters: they join the group and become
active; once every one of them is healthy, the group's other active clusters
start draining. Running queries are never interrupted.

With --wait (the default) it waits until the old clusters are drained,
printing progress, and exits 1 if a drain times out.`,
		Example: "  switchyard bluegreen --group adhoc --to green",
		GroupID: groupFleet,
		Args:    positional(),
	}
	admin.addFlags(c.Flags())
	c.Flags().StringVar(&group, "group", "", "routing group to move (required)")
	c.Flags().StringVar(&to, "to", "", "clusters to move it to, comma separated (required)")
	c.Flags().DurationVar(&healthTimeout, "health-timeout", 2*time.Minute, "how long to wait for the new clusters to be healthy")
	c.Flags().DurationVar(&drainTimeout, "drain-timeout", 0, "how long the old clusters may take to drain (default: admin.drainTimeout)")
	c.Flags().BoolVar(&wait, "wait", true, "wait until the old clusters are drained")
	check := required(c, "group", "to")
	c.RunE = func(c *cobra.Command, _ []string) error {
		if err := check(); err != nil {
			return err
		}
		body := map[string]any{"group": group, "to": strings.Split(to, ","), "healthTimeout": healthTimeout.String()}
		if drainTimeout > 0 {
			body["drainTimeout"] = drainTimeout.String()
		}
		client := admin.client(c)
		var rep lifecycle.BlueGreenReport
		if err := client.do(c.Context(), http.MethodPost, "/api/v1/bluegreen", body, &rep); err != nil {
			return err
		}
		fmt.Fprintf(c.OutOrStdout(), "group %s: %s active and healthy after %v; draining %s\n", rep.Group,
			strings.Join(rep.Activated, ", "), time.Duration(rep.HealthyMS)*time.Millisecond, orNone(rep.Draining))
		if !wait || len(rep.Draining) == 0 {
			return nil
		}
		return waitDrained(c.Context(), client, rep.Draining, c.OutOrStdout(), poll)
	}
	return c
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "nothing"
	}
	return strings.Join(s, ", ")
}

package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchyard-gw/switchyard/pkg/config"
	"github.com/switchyard-gw/switchyard/pkg/lifecycle"
)

// newClusterCmd is "switchyard cluster": the lifecycle verbs over the admin
// API. --admin and --token are persistent: every verb takes them. Flags may
// come before or after the cluster name.
func newClusterCmd(poll time.Duration) *cobra.Command {
	admin := &adminOptions{}
	c := newGroupCmd("cluster", "List, add, remove, activate, deactivate, drain clusters, set weights")
	c.GroupID = groupFleet
	admin.addFlags(c.PersistentFlags())
	c.AddCommand(
		newClusterListCmd(admin), newClusterAddCmd(admin), newClusterRemoveCmd(admin),
		newClusterStateCmd(admin, "activate", "Take new queries"),
		newClusterStateCmd(admin, "deactivate", "Stop new queries now (running ones go on)"),
		newClusterDrainCmd(admin, poll), newClusterWeightCmd(admin),
	)
	return c
}

func clusterPath(name string) string { return "/api/v1/clusters/" + url.PathEscape(name) }

func newClusterListCmd(admin *adminOptions) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "list [--json]",
		Short: "Clusters with state, health and load",
		Long: `Clusters with state, health and load. In COORDINATORS, * marks the
coordinator that takes new queries.`,
		Args:              positional(),
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.RunE = func(c *cobra.Command, _ []string) error {
		var cs []lifecycle.ClusterView
		if err := admin.client(c).do(c.Context(), http.MethodGet, "/api/v1/clusters", nil, &cs); err != nil {
			return err
		}
		if asJSON {
			enc := json.NewEncoder(c.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(cs)
		}
		tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tGROUP\tSTATE\tHEALTH\tRUNNING\tQUEUED\tWORKERS\tWEIGHT\tCOORDINATORS")
		for _, cl := range cs {
			var cos []string
			for _, co := range cl.Coordinators {
				mark := ""
				if co.Primary {
					mark = "*"
				}
				cos = append(cos, fmt.Sprintf("%s%s=%s(%s)", mark, co.Name, co.URL, co.HealthIs))
			}
			load := func(n int) string {
				if !cl.Load.Known {
					return "?"
				}
				return strconv.Itoa(n)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", cl.Name, cl.Group, cl.State, cl.Health,
				load(cl.Load.Running), load(cl.Load.Queued), load(cl.Load.ActiveWorkers), cl.Weight, strings.Join(cos, " "))
		}
		return tw.Flush()
	}
	return c
}

func newClusterAddCmd(admin *adminOptions) *cobra.Command {
	var (
		group            string
		coords, standbys []string
		weight           int
		inactive         bool
	)
	c := &cobra.Command{
		Use:               "add NAME --group G --coordinator URL [--standby URL] [--weight N] [--inactive]",
		Short:             "Add a cluster to a routing group",
		Example:           "  switchyard cluster add green --group adhoc --coordinator http://10.0.2.10:8080 --inactive",
		Args:              positional("NAME"),
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	c.Flags().StringVar(&group, "group", "", "routing group")
	c.Flags().StringArrayVar(&coords, "coordinator", nil, "active coordinator `URL` (repeatable)")
	c.Flags().StringArrayVar(&standbys, "standby", nil, "standby coordinator `URL` (repeatable)")
	c.Flags().IntVar(&weight, "weight", config.DefaultWeight, "weight within the group")
	c.Flags().BoolVar(&inactive, "inactive", false, "add it inactive (no new queries until activated)")
	c.RunE = func(c *cobra.Command, args []string) error {
		cl := config.Cluster{Name: args[0], Group: group, Weight: &weight}
		for _, u := range coords {
			cl.Coordinators = append(cl.Coordinators, config.Coordinator{URL: u, Role: config.RoleActive})
		}
		for _, u := range standbys {
			cl.Coordinators = append(cl.Coordinators, config.Coordinator{URL: u, Role: config.RoleStandby})
		}
		if inactive {
			cl.State = config.StateInactive
		}
		var v lifecycle.ClusterView
		if err := admin.client(c).do(c.Context(), http.MethodPost, "/api/v1/clusters", cl, &v); err != nil {
			return err
		}
		fmt.Fprintf(c.OutOrStdout(), "cluster %s added to group %s (%s)\n", v.Name, v.Group, v.State)
		return nil
	}
	return c
}

func newClusterRemoveCmd(admin *adminOptions) *cobra.Command {
	var force bool
	c := &cobra.Command{
		Use:               "remove NAME [--force]",
		Short:             "Remove a cluster (it must be inactive or drained unless forced)",
		Args:              positional("NAME"),
		ValidArgsFunction: admin.completeClusterName,
	}
	c.Flags().BoolVar(&force, "force", false, "remove even if it still takes queries")
	c.RunE = func(c *cobra.Command, args []string) error {
		path := clusterPath(args[0])
		if force {
			path += "?force=true"
		}
		if err := admin.client(c).do(c.Context(), http.MethodDelete, path, nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(c.OutOrStdout(), "cluster %s removed\n", args[0])
		return nil
	}
	return c
}

// newClusterStateCmd is activate or deactivate (verb is also the API path).
func newClusterStateCmd(admin *adminOptions, verb, short string) *cobra.Command {
	return &cobra.Command{
		Use:               verb + " NAME",
		Short:             short,
		Args:              positional("NAME"),
		ValidArgsFunction: admin.completeClusterName,
		RunE: func(c *cobra.Command, args []string) error {
			var v lifecycle.ClusterView
			if err := admin.client(c).do(c.Context(), http.MethodPost, clusterPath(args[0])+"/"+verb, nil, &v); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "cluster %s is %s\n", v.Name, v.State)
			return nil
		},
	}
}

func newClusterWeightCmd(admin *adminOptions) *cobra.Command {
	return &cobra.Command{
		Use:               "weight NAME N",
		Short:             "Set the weight within the group",
		Args:              positional("NAME", "N"),
		ValidArgsFunction: admin.completeClusterName,
		RunE: func(c *cobra.Command, args []string) error {
			w, err := strconv.Atoi(args[1])
			if err != nil {
				return usageErrorf(c, "weight %q is not a number", args[1])
			}
			var v lifecycle.ClusterView
			if err := admin.client(c).do(c.Context(), http.MethodPut, clusterPath(args[0])+"/weight", map[string]int{"weight": w}, &v); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "cluster %s weight %d\n", v.Name, v.Weight)
			return nil
		},
	}
}

func newClusterDrainCmd(admin *adminOptions, poll time.Duration) *cobra.Command {
	var (
		timeout        time.Duration
		shutdown, wait bool
	)
	c := &cobra.Command{
		Use:   "drain NAME [--timeout D] [--shutdown-workers] [--wait]",
		Short: "Stop new queries, wait for running and queued ones",
		Long: `Stop new queries to a cluster; running and queued ones go on until they
finish or the drain's deadline passes.

With --wait it prints progress and exits 0 once drained; when the deadline
passes it prints the queries still running and exits 1 (the cluster stays
draining).`,
		Example:           "  switchyard cluster drain blue --timeout 30m --wait",
		Args:              positional("NAME"),
		ValidArgsFunction: admin.completeClusterName,
	}
	c.Flags().DurationVar(&timeout, "timeout", 0, "how long the drain may take (default: admin.drainTimeout)")
	c.Flags().BoolVar(&shutdown, "shutdown-workers", false, "shut the workers down gracefully once drained")
	c.Flags().BoolVar(&wait, "wait", false, "wait until drained, showing progress; exit non-zero if the drain times out")
	c.RunE = func(c *cobra.Command, args []string) error {
		name := args[0]
		client := admin.client(c)
		body := map[string]any{"shutdownWorkers": shutdown}
		if timeout > 0 {
			body["timeout"] = timeout.String()
		}
		if err := client.do(c.Context(), http.MethodPost, clusterPath(name)+"/drain", body, nil); err != nil {
			return err
		}
		fmt.Fprintf(c.OutOrStdout(), "cluster %s is draining: no new queries\n", name)
		if !wait {
			return nil
		}
		return waitDrained(c.Context(), client, []string{name}, c.OutOrStdout(), poll)
	}
	return c
}

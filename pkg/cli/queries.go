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

	"github.com/switchyard-gw/switchyard/pkg/fleetqueries"
)

// newQueriesCmd is "switchyard queries": the fleet's recent and running
// queries, with the cluster of each (what system.runtime.queries shows for
// one cluster, for all of them).
func newQueriesCmd() *cobra.Command {
	admin := &adminOptions{}
	var (
		state, user string
		limit       int
		asJSON      bool
	)
	c := &cobra.Command{
		Use:   "queries [--state S] [--user U] [--limit N] [--json]",
		Short: "Recent and running queries of every cluster, with where each runs",
		Long: `Recent and running queries of every cluster of the fleet, newest first,
with the cluster and coordinator of each: what system.runtime.queries
shows for one cluster, for all of them. Coordinators that did not answer
are listed after the queries (their queries are missing).`,
		Example: "  switchyard queries --state RUNNING\n  switchyard queries --user alice --json",
		GroupID: groupFleet,
		Args:    positional(),
	}
	admin.addFlags(c.Flags())
	c.Flags().StringVar(&state, "state", "", "only queries in this state (QUEUED, RUNNING, FINISHED, FAILED, ...)")
	c.Flags().StringVar(&user, "user", "", "only this user's queries")
	c.Flags().IntVar(&limit, "limit", 100, "at most this many queries, newest first")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.RunE = func(c *cobra.Command, _ []string) error {
		q := url.Values{}
		if state != "" {
			q.Set("state", strings.ToUpper(state))
		}
		if user != "" {
			q.Set("user", user)
		}
		q.Set("limit", strconv.Itoa(limit))
		var v fleetqueries.View
		if err := admin.client(c).do(c.Context(), http.MethodGet, "/api/v1/queries?"+q.Encode(), nil, &v); err != nil {
			return err
		}
		if asJSON {
			enc := json.NewEncoder(c.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(v)
		}
		tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "QUERY ID\tCLUSTER\tSTATE\tUSER\tELAPSED\tQUERY")
		for _, q := range v.Queries {
			state := q.State
			if q.Error != "" {
				state += " (" + q.Error + ")"
			}
			fmt.Fprintf(tw, "%s\t%s/%s\t%s\t%s\t%s\t%s\n", q.QueryID, q.Cluster, q.Coordinator, state, q.User,
				(time.Duration(q.ElapsedMs) * time.Millisecond).String(), oneLine(q.Query, 60))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, f := range v.Failed {
			fmt.Fprintf(c.ErrOrStderr(), "coordinator %s/%s did not answer: %s\n", f.Cluster, f.Coordinator, f.Error)
		}
		return nil
	}
	return c
}

// oneLine is s on one line, cut to n runes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

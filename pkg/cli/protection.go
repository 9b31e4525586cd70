package cli

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchyard-gw/switchyard/pkg/store"
)

// The query protection endpoints of the admin API (pkg/admin/protection.go).
const protectionPath = "/api/v1/protection"

// newProtectionCmd is "switchyard protection": query protection's action
// log, remembered incidents, quarantines and throttles, over the admin API.
func newProtectionCmd() *cobra.Command {
	admin := &adminOptions{}
	c := newGroupCmd("protection", "Query protection: actions, incidents, throttles")
	c.Long = `Query protection (docs/protection.md): what it refused, isolated, capped,
killed, throttled, quarantined or warned about; what it remembers of queries
that blew up (by fingerprint); which users the watchdog throttles. Reading
needs a viewer token; release and unthrottle an operator token.`
	c.GroupID = groupFleet
	admin.addFlags(c.PersistentFlags())
	c.AddCommand(newProtectionActionsCmd(admin), newProtectionFingerprintCmd(admin), newProtectionIncidentsCmd(admin),
		newProtectionReleaseCmd(admin), newProtectionThrottlesCmd(admin), newProtectionUnthrottleCmd(admin))
	return c
}

func newProtectionActionsCmd(admin *adminOptions) *cobra.Command {
	var limit int
	var query string
	c := &cobra.Command{
		Use:               "actions [--limit N] [--query ID] [-o table|json]",
		Short:             "Recent protection actions, newest first",
		Example:           "  switchyard protection actions --limit 20\n  switchyard protection actions --query 20261204_101500_00042_abcde",
		Args:              positional(),
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	c.Flags().IntVar(&limit, "limit", 50, "how many (1-10000)")
	c.Flags().StringVar(&query, "query", "", "only the actions on this query")
	output := outputFlag(c)
	c.RunE = func(c *cobra.Command, _ []string) error {
		path := protectionPath + "/actions?limit=" + strconv.Itoa(limit)
		if query != "" {
			path = protectionPath + "/queries/" + url.PathEscape(query)
		}
		var as []store.Action
		raw, err := admin.call(c, http.MethodGet, path, nil, &as)
		if err != nil {
			return err
		}
		if *output == outputJSON {
			return printRawJSON(c.OutOrStdout(), raw)
		}
		w := tabwriter.NewWriter(c.OutOrStdout(), 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "TIME\tACTION\tRULE\tUSER\tQUERY\tCLUSTER\tUNTIL\tREASON")
		for _, a := range as {
			act := a.Action
			if a.ReportOnly {
				act += " (report only)"
			}
			until := "-"
			if !a.Until.IsZero() {
				until = a.Until.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.Time.UTC().Format(time.RFC3339), act, dash(a.Rule), dash(a.User),
				dash(a.QueryID), dash(a.Cluster), until, a.Reason)
		}
		return w.Flush()
	}
	return c
}

func newProtectionFingerprintCmd(admin *adminOptions) *cobra.Command {
	var sql string
	c := &cobra.Command{
		Use:               "fingerprint --sql SQL",
		Short:             "The fingerprint of a statement (its shape) and its normalised text",
		Example:           "  switchyard protection fingerprint --sql \"SELECT * FROM orders WHERE id = 7\"",
		Args:              positional(),
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	c.Flags().StringVar(&sql, "sql", "", "the statement (required)")
	c.RunE = func(c *cobra.Command, _ []string) error {
		if strings.TrimSpace(sql) == "" {
			return usageErrorf(c, "--sql is required")
		}
		var res struct {
			Fingerprint string `json:"fingerprint"`
			Normalised  string `json:"normalised"`
		}
		if _, err := admin.call(c, http.MethodPost, protectionPath+"/fingerprint", map[string]string{"sql": sql}, &res); err != nil {
			return err
		}
		fmt.Fprintf(c.OutOrStdout(), "%s\n%s\n", res.Fingerprint, res.Normalised)
		return nil
	}
	return c
}

func newProtectionIncidentsCmd(admin *adminOptions) *cobra.Command {
	c := &cobra.Command{
		Use:               "incidents FINGERPRINT [-o table|json]",
		Short:             "What happened before to queries of a fingerprint (failures, kills, quarantine)",
		Args:              positional("FINGERPRINT"),
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	output := outputFlag(c)
	c.RunE = func(c *cobra.Command, args []string) error {
		var res struct {
			Incidents []store.Incident `json:"incidents"`
		}
		raw, err := admin.call(c, http.MethodGet, protectionPath+"/fingerprints/"+url.PathEscape(args[0]), nil, &res)
		if err != nil {
			return err
		}
		if *output == outputJSON {
			return printRawJSON(c.OutOrStdout(), raw)
		}
		w := tabwriter.NewWriter(c.OutOrStdout(), 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "TIME\tKIND\tUSER\tQUERY\tCLUSTER\tUNTIL\tREASON")
		for _, in := range res.Incidents {
			until := "-"
			if !in.Until.IsZero() {
				until = in.Until.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", in.Time.UTC().Format(time.RFC3339), in.Kind, dash(in.User), dash(in.QueryID),
				dash(in.Cluster), until, in.Reason)
		}
		return w.Flush()
	}
	return c
}

func newProtectionReleaseCmd(admin *adminOptions) *cobra.Command {
	return &cobra.Command{
		Use:               "release FINGERPRINT",
		Short:             "Forget a fingerprint's incidents and end its quarantine (operator)",
		Args:              positional("FINGERPRINT"),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(c *cobra.Command, args []string) error {
			var res map[string]string
			if _, err := admin.call(c, http.MethodDelete, protectionPath+"/fingerprints/"+url.PathEscape(args[0]), nil, &res); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "fingerprint %s released: its queries are decided afresh\n", args[0])
			return nil
		},
	}
}

func newProtectionThrottlesCmd(admin *adminOptions) *cobra.Command {
	c := &cobra.Command{
		Use:               "throttles [-o table|json]",
		Short:             "Users the watchdog throttles",
		Args:              positional(),
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	output := outputFlag(c)
	c.RunE = func(c *cobra.Command, _ []string) error {
		var ts []store.Throttle
		raw, err := admin.call(c, http.MethodGet, protectionPath+"/throttles", nil, &ts)
		if err != nil {
			return err
		}
		if *output == outputJSON {
			return printRawJSON(c.OutOrStdout(), raw)
		}
		w := tabwriter.NewWriter(c.OutOrStdout(), 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "USER\tMAX RUNNING\tUNTIL\tREASON")
		for _, t := range ts {
			fmt.Fprintf(w, "%s\t%d\t%s\t%s\n", t.User, t.MaxRunning, t.Until.UTC().Format(time.RFC3339), t.Reason)
		}
		return w.Flush()
	}
	return c
}

func newProtectionUnthrottleCmd(admin *adminOptions) *cobra.Command {
	return &cobra.Command{
		Use:               "unthrottle USER",
		Short:             "End a user's throttle (operator)",
		Args:              positional("USER"),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(c *cobra.Command, args []string) error {
			var res map[string]string
			if _, err := admin.call(c, http.MethodDelete, protectionPath+"/throttles/"+url.PathEscape(args[0]), nil, &res); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "user %s is no longer throttled\n", args[0])
			return nil
		},
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

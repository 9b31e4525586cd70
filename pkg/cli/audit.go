package cli

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/switchyard-gw/switchyard/pkg/store"
)

// maxAudit is the most entries the admin API answers with.
const maxAudit = 10000

// newAuditCmd is "switchyard audit": the admin API's audit log.
func newAuditCmd() *cobra.Command {
	admin := &adminOptions{}
	var limit int
	c := &cobra.Command{
		Use:   "audit [--limit N] [-o table|json]",
		Short: "Changes made through the admin API: who, what, when, and how each ended",
		Long: `The audit log of the admin API, newest first: every call a token holder made
to an operator or admin endpoint (refused ones too), with its role, the
method and path, the answer's status, the caller's address and the replica
that served it. Needs an operator or admin token.`,
		Example:           "  switchyard audit --limit 50",
		Args:              positional(),
		ValidArgsFunction: cobra.NoFileCompletions,
		GroupID:           groupFleet,
	}
	admin.addFlags(c.Flags())
	c.Flags().IntVar(&limit, "limit", 20, fmt.Sprintf("at most this many entries, newest first (1 to %d)", maxAudit))
	output := outputFlag(c)
	c.RunE = func(c *cobra.Command, _ []string) error {
		if limit < 1 || limit > maxAudit {
			return usageErrorf(c, "--limit %d must be from 1 to %d", limit, maxAudit)
		}
		var doc struct {
			Entries []store.AuditEntry `json:"entries"`
		}
		raw, err := admin.call(c, http.MethodGet, "/api/v1/audit?limit="+strconv.Itoa(limit), nil, &doc)
		if err != nil {
			return err
		}
		if *output == outputJSON {
			return printRawJSON(c.OutOrStdout(), raw)
		}
		return printAudit(c.OutOrStdout(), doc.Entries)
	}
	return c
}

func printAudit(w io.Writer, es []store.AuditEntry) error {
	if len(es) == 0 {
		fmt.Fprintln(w, "No changes recorded.")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tWHO\tROLE\tREQUEST\tSTATUS\tFROM\tREPLICA")
	for _, e := range es {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s %s\t%d\t%s\t%s\n", fmtTime(e.Time), orDash(e.Who), e.Role, e.Method, e.Path, e.Status, orDash(e.Remote), orDash(e.Replica))
	}
	return tw.Flush()
}

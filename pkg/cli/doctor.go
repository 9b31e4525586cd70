package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/switchyard-gw/switchyard/pkg/doctor"
)

// ErrDoctorFindings is returned when the doctor found an error-level
// problem (exit status 1 after the report).
var ErrDoctorFindings = errors.New("the doctor found errors")

// newDoctorCmd is "switchyard doctor": the checks of every registered
// Trino cluster, run by the control plane (GET /api/v1/doctor).
func newDoctorCmd() *cobra.Command {
	admin := &adminOptions{}
	var cluster, format string
	c := &cobra.Command{
		Use:   "doctor [--cluster NAME] [--format text|json]",
		Short: "Check what every Trino cluster really runs with, and how to fix what is wrong",
		Long: `Check every registered Trino cluster (or one) from the control plane: its
nodes and their versions and heaps, a probe query sent as Envoy sends it
(forwarded headers and the gateway's prefix) and followed through the
gateway, whether its query events reach the control plane, whether the
gateway may shut its workers down gracefully, and whether retry-policy=TASK
has an exchange manager. Each finding has a severity (error, warning,
info) and the fix; the exit status is 1 when any finding is an error.
The probe queries run as the control plane's user with source
` + doctor.Source + `.`,
		Example: "  switchyard doctor\n  switchyard doctor --cluster blue --format json",
		GroupID: groupFleet,
		Args:    positional(),
	}
	admin.addFlags(c.Flags())
	c.Flags().StringVar(&cluster, "cluster", "", "check only this cluster")
	c.Flags().StringVar(&format, "format", "text", "text or json")
	c.RunE = func(c *cobra.Command, _ []string) error {
		if format != "text" && format != "json" {
			return usageErrorf(c, "--format must be text or json, got %q", format)
		}
		path := "/api/v1/doctor"
		if cluster != "" {
			path += "?" + url.Values{"cluster": {cluster}}.Encode()
		}
		var rep doctor.Report
		if err := admin.client(c).do(c.Context(), http.MethodGet, path, nil, &rep); err != nil {
			return err
		}
		if format == "json" {
			enc := json.NewEncoder(c.OutOrStdout())
			enc.SetIndent("", "  ")
			if err := enc.Encode(rep); err != nil {
				return err
			}
		} else {
			writeDoctorText(c.OutOrStdout(), rep)
		}
		if rep.Errors > 0 {
			return fmt.Errorf("%w: %d error(s), %d warning(s)", ErrDoctorFindings, rep.Errors, rep.Warnings)
		}
		return nil
	}
	return c
}

func writeDoctorText(w io.Writer, rep doctor.Report) {
	for _, cr := range rep.Clusters {
		f := cr.Facts
		fmt.Fprintf(w, "cluster %s (group %s, %s)\n", cr.Cluster, cr.Group, f.State)
		if f.Reachable {
			workers := 0
			for _, n := range f.Nodes {
				if !n.Coordinator {
					workers++
				}
			}
			policy := f.RetryPolicy
			if policy == "" {
				policy = "unknown"
			}
			fmt.Fprintf(w, "  coordinator %s %s: Trino %s, %d node(s), %d worker(s), retry-policy %s\n", f.Coordinator, f.URL, f.Version, len(f.Nodes), workers, policy)
		}
		if len(cr.Findings) == 0 {
			fmt.Fprintln(w, "  ok: nothing found")
		}
		for _, x := range cr.Findings {
			node := ""
			if x.Node != "" {
				node = " [" + x.Node + "]"
			}
			fmt.Fprintf(w, "  %-7s %s%s: %s\n", strings.ToUpper(string(x.Severity)), x.Check, node, x.Message)
			if x.Fix != "" {
				fmt.Fprintf(w, "          fix: %s\n", x.Fix)
			}
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "%d cluster(s) checked: %d error(s), %d warning(s)\n", len(rep.Clusters), rep.Errors, rep.Warnings)
}

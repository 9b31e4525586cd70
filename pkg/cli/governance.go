package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchyard-gw/switchyard/pkg/governance"
	"github.com/switchyard-gw/switchyard/pkg/store"
	"github.com/switchyard-gw/switchyard/pkg/trino"
	"github.com/switchyard-gw/switchyard/pkg/workload"
)

// The governance endpoints of the admin API (pkg/admin/governance.go).
const (
	governancePath = "/api/v1/governance"
	queuePath      = "/api/v1/governance/queue"
	usagePath      = "/api/v1/governance/usage"
	historyPath    = "/api/v1/history"
)

// maxHistory is the most records GET /api/v1/history gives.
const maxHistory = 10000

// newGovernanceCmd is "switchyard governance": the workload classes' usage
// and quotas, the gateway's queue and the recent-query history, over the
// admin API. --admin and --token are persistent: every verb takes them.
func newGovernanceCmd() *cobra.Command {
	admin := &adminOptions{}
	c := newGroupCmd("governance", "Workload classes: usage and quotas, the queue, recent queries")
	c.Long = `Workload governance: what each workload class (and each user within it) runs,
queues and uses of its rates and quotas, what each cluster runs against its
cap, the gateway's queue, and the recent queries. usage, queue and history
need a viewer token; cancel needs an operator token, adjust and reset the
admin role.`
	c.GroupID = groupFleet
	admin.addFlags(c.PersistentFlags())
	c.AddCommand(
		newGovernanceUsageCmd(admin), newGovernanceQueueCmd(admin), newGovernanceCancelCmd(admin),
		newGovernanceAdjustCmd(admin), newGovernanceResetCmd(admin), newGovernanceHistoryCmd(admin),
	)
	return c
}

func newGovernanceUsageCmd(admin *adminOptions) *cobra.Command {
	c := &cobra.Command{
		Use:   "usage [-o table|json]",
		Short: "Usage per class, user and cluster, against their limits",
		Long: `Usage per workload class, user and cluster, against their limits: per class,
its priority, running and queued queries and its rate and quotas used in the
current windows (queries per minute, CPU seconds and scanned bytes per hour);
the same for each user within the class, against the per-user limits; per
cluster, the gateway's queries running against its cap. A cell reads
used/limit; "-" is no limit.`,
		Example:           "  switchyard governance usage\n  switchyard governance usage -o json",
		Args:              positional(),
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	output := outputFlag(c)
	c.RunE = func(c *cobra.Command, _ []string) error {
		var u workload.Usage
		raw, err := admin.call(c, http.MethodGet, governancePath, nil, &u)
		if err != nil {
			return err
		}
		if *output == outputJSON {
			return printRawJSON(c.OutOrStdout(), raw)
		}
		return printUsage(c.OutOrStdout(), &u)
	}
	return c
}

func newGovernanceQueueCmd(admin *adminOptions) *cobra.Command {
	c := &cobra.Command{
		Use:   "queue [-o table|json]",
		Short: "The gateway's queue, in the order it runs",
		Long: `The gateway's queue: queued queries in the order they will run, with their
positions, then the admitted, submitted and ended ones it still keeps.`,
		Args:              positional(),
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	output := outputFlag(c)
	c.RunE = func(c *cobra.Command, _ []string) error {
		var q []workload.QueueItem
		raw, err := admin.call(c, http.MethodGet, queuePath, nil, &q)
		if err != nil {
			return err
		}
		if *output == outputJSON {
			return printRawJSON(c.OutOrStdout(), raw)
		}
		return printQueue(c.OutOrStdout(), q)
	}
	return c
}

func newGovernanceCancelCmd(admin *adminOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "cancel ID",
		Short: "Cancel a query waiting in the gateway's queue (admin)",
		Long: `Cancel a query waiting in the gateway's queue (admin role): its client gets
USER_CANCELED. A query that left the queue already runs on a cluster:
cancel it there.`,
		Example:           "  switchyard governance cancel 20250601_100418_00007_q2x9f",
		Args:              positional("ID"),
		ValidArgsFunction: admin.completeQueuedID,
		RunE: func(c *cobra.Command, args []string) error {
			id := args[0]
			if !trino.ValidQueryID(id) {
				return usageErrorf(c, "%q is not a queued query's ID (see switchyard governance queue)", id)
			}
			var res struct {
				Canceled string `json:"canceled"`
				Was      string `json:"was"`
			}
			if _, err := admin.call(c, http.MethodDelete, queuePath+"/"+url.PathEscape(id), nil, &res); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "query %s canceled (it was %s)\n", id, res.Was)
			return nil
		},
	}
}

// usageChange is the body of POST /api/v1/governance/usage.
type usageChange struct {
	Class string  `json:"class"`
	User  string  `json:"user,omitempty"`
	Kind  string  `json:"kind,omitempty"`
	Delta float64 `json:"delta,omitempty"`
	Reset bool    `json:"reset,omitempty"`
}

func newGovernanceAdjustCmd(admin *adminOptions) *cobra.Command {
	var (
		class, user string
		kind        usageKind
		delta       float64
	)
	c := &cobra.Command{
		Use:   "adjust --class C [--user U] --kind rate|cpu|bytes --delta N [-o table|json]",
		Short: "Add to (or take from) a class's or user's usage in the current window (admin)",
		Long: `Add to a class's (or, with --user, one of its users') usage in the current
window, or take from it with a negative --delta (admin role): rate counts
queries this minute, cpu CPU seconds this hour, bytes scanned bytes this
hour. Prints the class's usage after the change.`,
		Example: "  switchyard governance adjust --class etl --kind cpu --delta -600\n" +
			"  switchyard governance adjust --class adhoc --user alice --kind bytes --delta 1e9",
		Args:              positional(),
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	classFlags(c, admin, &class, &user)
	c.Flags().Var(&kind, "kind", "which usage: rate, cpu or bytes (required)")
	c.Flags().Float64Var(&delta, "delta", 0, "how much to add: queries, CPU seconds or bytes; negative takes away (required)")
	_ = c.RegisterFlagCompletionFunc("kind", cobra.FixedCompletions(usageKinds, cobra.ShellCompDirectiveNoFileComp))
	output := outputFlag(c)
	check := required(c, "class", "kind", "delta")
	c.RunE = func(c *cobra.Command, _ []string) error {
		if err := check(); err != nil {
			return err
		}
		switch {
		case delta == 0:
			return usageErrorf(c, "--delta must not be 0 (reset clears usage)")
		case math.IsNaN(delta) || math.IsInf(delta, 0):
			return usageErrorf(c, "--delta must be a finite number")
		}
		ch := usageChange{Class: class, User: user, Kind: string(kind), Delta: delta}
		how, amount := "raised", math.Abs(delta)
		if delta < 0 {
			how = "lowered"
		}
		by := fmtNum(amount)
		if kind == "bytes" {
			by = fmtBytes(amount)
		}
		done := fmt.Sprintf("%s usage of %s %s by %s in the current window", kind, scopeName(class, user), how, by)
		return changeUsage(c, admin, ch, done, *output)
	}
	return c
}

func newGovernanceResetCmd(admin *adminOptions) *cobra.Command {
	var (
		class, user string
		kind        usageKind
	)
	c := &cobra.Command{
		Use:   "reset --class C [--user U] [--kind rate|cpu|bytes] [-o table|json]",
		Short: "Clear a class's or user's usage in the current windows (admin)",
		Long: `Clear a class's (or, with --user, one of its users') usage in the current
windows (admin role): one kind with --kind, else all three (rate, cpu,
bytes). Prints the class's usage after the change.`,
		Example:           "  switchyard governance reset --class etl\n  switchyard governance reset --class adhoc --user alice --kind cpu",
		Args:              positional(),
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	classFlags(c, admin, &class, &user)
	c.Flags().Var(&kind, "kind", "which usage: rate, cpu or bytes (default: all three)")
	_ = c.RegisterFlagCompletionFunc("kind", cobra.FixedCompletions(usageKinds, cobra.ShellCompDirectiveNoFileComp))
	output := outputFlag(c)
	check := required(c, "class")
	c.RunE = func(c *cobra.Command, _ []string) error {
		if err := check(); err != nil {
			return err
		}
		what := "rate, cpu and bytes usage"
		if kind != "" {
			what = string(kind) + " usage"
		}
		ch := usageChange{Class: class, User: user, Kind: string(kind), Reset: true}
		return changeUsage(c, admin, ch, fmt.Sprintf("%s of %s reset in the current window", what, scopeName(class, user)), *output)
	}
	return c
}

// classFlags defines --class (completed from the API) and --user.
func classFlags(c *cobra.Command, admin *adminOptions, class, user *string) {
	c.Flags().StringVar(class, "class", "", "workload class (required)")
	c.Flags().StringVar(user, "user", "", "only this user's usage within the class (default: the class's own)")
	_ = c.RegisterFlagCompletionFunc("class", admin.completeClass)
}

// changeUsage posts a usage change and prints the class's usage after it
// (or, as JSON, the whole document the API answered).
func changeUsage(c *cobra.Command, admin *adminOptions, ch usageChange, done string, output outputFormat) error {
	var u workload.Usage
	raw, err := admin.call(c, http.MethodPost, usagePath, ch, &u)
	if err != nil {
		return err
	}
	var found *workload.ClassUsage
	var names []string
	for i := range u.Classes {
		names = append(names, u.Classes[i].Name)
		if u.Classes[i].Name == ch.Class {
			found = &u.Classes[i]
		}
	}
	if found == nil {
		fmt.Fprintf(c.ErrOrStderr(), "warning: the governance view has no class %q (it has: %s): is the name right?\n", ch.Class, orNoneList(names))
	}
	if output == outputJSON {
		return printRawJSON(c.OutOrStdout(), raw)
	}
	w := c.OutOrStdout()
	fmt.Fprintln(w, done)
	if found == nil {
		return nil
	}
	cs := []workload.ClassUsage{*found}
	printWindows(w, u.Time, cs)
	fmt.Fprintln(w)
	return printClasses(w, cs)
}

func newGovernanceHistoryCmd(admin *adminOptions) *cobra.Command {
	var limit int
	c := &cobra.Command{
		Use:   "history [--limit N] [-o table|json]",
		Short: "Recent queries with their class, cluster, CPU time and scanned bytes",
		Long: `Recent queries, newest first, as the clusters' event listeners reported them:
user, class, cluster, state, CPU seconds, scanned bytes and when each ended.`,
		Example:           "  switchyard governance history --limit 50",
		Args:              positional(),
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	c.Flags().IntVar(&limit, "limit", 20, fmt.Sprintf("at most this many queries, newest first (1 to %d)", maxHistory))
	output := outputFlag(c)
	c.RunE = func(c *cobra.Command, _ []string) error {
		if limit < 1 || limit > maxHistory {
			return usageErrorf(c, "--limit %d must be from 1 to %d", limit, maxHistory)
		}
		var rs []store.QueryRecord
		raw, err := admin.call(c, http.MethodGet, historyPath+"?limit="+strconv.Itoa(limit), nil, &rs)
		if err != nil {
			return err
		}
		if *output == outputJSON {
			return printRawJSON(c.OutOrStdout(), raw)
		}
		return printHistory(c.OutOrStdout(), rs)
	}
	return c
}

// call sends a request to the admin API and decodes the answer into out,
// returning it raw as well (for --output json).
func (o *adminOptions) call(c *cobra.Command, method, path string, in, out any) (json.RawMessage, error) {
	var raw json.RawMessage
	if err := o.client(c).do(c.Context(), method, path, in, &raw); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return nil, fmt.Errorf("admin API: the answer to %s %s is not JSON: %w", method, path, err)
		}
		return nil, err
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return nil, fmt.Errorf("admin API: unexpected answer to %s %s: %w", method, path, err)
	}
	return raw, nil
}

// outputFormat is the value of --output: table (for people) or json (the
// admin API's document, as it answered).
type outputFormat string

const (
	outputTable outputFormat = "table"
	outputJSON  outputFormat = "json"
)

func (f *outputFormat) String() string { return string(*f) }
func (f *outputFormat) Type() string   { return "format" }
func (f *outputFormat) Set(s string) error {
	switch outputFormat(s) {
	case outputTable, outputJSON:
		*f = outputFormat(s)
		return nil
	}
	return errors.New("want table or json")
}

// outputFlag defines -o/--output on c.
func outputFlag(c *cobra.Command) *outputFormat {
	f := outputTable
	c.Flags().VarP(&f, "output", "o", "output `format`: table or json (the admin API's document)")
	_ = c.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{string(outputTable), string(outputJSON)}, cobra.ShellCompDirectiveNoFileComp))
	return &f
}

// usageKinds are the kinds of usage adjust and reset change.
var usageKinds = []string{"rate", "cpu", "bytes"}

// usageKind is the value of --kind.
type usageKind string

func (k *usageKind) String() string { return string(*k) }
func (k *usageKind) Type() string   { return "kind" }
func (k *usageKind) Set(s string) error {
	for _, v := range usageKinds {
		if s == v {
			*k = usageKind(s)
			return nil
		}
	}
	return errors.New("want rate, cpu or bytes")
}

// printRawJSON writes the API's answer indented.
func printRawJSON(w io.Writer, raw json.RawMessage) error {
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return err
	}
	b.WriteByte('\n')
	_, err := w.Write(b.Bytes())
	return err
}

// printUsage writes the governance view: a summary line, the windows,
// the classes with their users, and the clusters.
func printUsage(w io.Writer, u *workload.Usage) error {
	if u.Enabled {
		fmt.Fprintf(w, "Governance at %s: %d queued", fmtTime(u.Time), u.Queued)
	} else {
		fmt.Fprintf(w, "Governance is off (the policy in use defines no workload classes) at %s: %d queued", fmtTime(u.Time), u.Queued)
	}
	if u.Unclassified > 0 {
		fmt.Fprintf(w, ", %d running without a class", u.Unclassified)
	}
	fmt.Fprintln(w, ".")
	if len(u.Classes) > 0 {
		printWindows(w, u.Time, u.Classes)
		fmt.Fprintln(w)
		if err := printClasses(w, u.Classes); err != nil {
			return err
		}
	}
	if len(u.Clusters) > 0 {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CLUSTER\tRUNNING")
		for _, cl := range u.Clusters {
			fmt.Fprintf(tw, "%s\t%s\n", cl.Name, ofLimit(strconv.Itoa(cl.Running), cl.Cap > 0, strconv.Itoa(cl.Cap)))
		}
		return tw.Flush()
	}
	return nil
}

// printWindows writes when the current windows end (the first class's:
// every class and user shares them), if the view says.
func printWindows(w io.Writer, now time.Time, cs []workload.ClassUsage) {
	if cs[0].Usage.Rate.Resets.IsZero() && cs[0].Usage.CPU.Resets.IsZero() {
		return
	}
	fmt.Fprintf(w, "Queries per minute reset %s; CPU seconds and scanned bytes per hour reset %s.\n",
		fmtReset(cs[0].Usage.Rate.Resets, now), fmtReset(cs[0].Usage.CPU.Resets, now))
}

// printClasses writes a table of the classes and their users. A balance
// whose window ends at another time than the first class's (printWindows)
// names its own.
func printClasses(w io.Writer, cs []workload.ClassUsage) error {
	rateResets, quotaResets := cs[0].Usage.Rate.Resets, cs[0].Usage.CPU.Resets
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLASS / USER\tPRIORITY\tRUNNING\tQUEUED\tQUERIES/MIN\tCPU SECONDS/H\tSCANNED/H")
	row := func(name, priority string, running, queued int, l governance.Limits, b workload.Balances) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, priority,
			ofLimit(strconv.Itoa(running), l.MaxRunning > 0, strconv.Itoa(l.MaxRunning)),
			ofLimit(strconv.Itoa(queued), l.MaxQueued > 0, strconv.Itoa(l.MaxQueued)),
			balance(b.Rate, fmtNum, rateResets), balance(b.CPU, fmtNum, quotaResets), balance(b.Bytes, fmtBytes, quotaResets))
	}
	for _, cl := range cs {
		row(cl.Name, strconv.Itoa(cl.Priority), cl.Running, cl.Queued, cl.Limits, cl.Usage)
		for _, us := range cl.Users {
			row("  "+us.User, "", us.Running, us.Queued, cl.PerUser, us.Usage)
		}
	}
	return tw.Flush()
}

// balance is "used/limit" ("-": no limit), with the window's end when it
// is not the usual one.
func balance(b workload.Balance, f func(float64) string, usual time.Time) string {
	s := ofLimit(f(b.Used), b.Limit > 0, f(b.Limit))
	if !b.Resets.IsZero() && !b.Resets.Equal(usual) {
		s += " (resets " + b.Resets.UTC().Format("15:04:05Z") + ")"
	}
	return s
}

// ofLimit is "used/limit", or "used/-" when there is no limit.
func ofLimit(used string, limited bool, limit string) string {
	if !limited {
		limit = "-"
	}
	return used + "/" + limit
}

// fmtReset is when a window ends, and how long from now that is.
func fmtReset(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	s := "at " + t.UTC().Format("15:04:05Z")
	if !now.IsZero() && t.After(now) {
		s += " (in " + t.Sub(now).Round(time.Second).String() + ")"
	}
	return s
}

// fmtTime is a timestamp in UTC, to the second ("-" for none).
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// fmtNum writes a count or CPU seconds: whole, or to one decimal.
func fmtNum(v float64) string {
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64)
}

// fmtBytes writes a byte count in Trino's units (powers of 1024), to two
// decimals: "1.5GB", "512B".
func fmtBytes(v float64) string {
	neg := ""
	if v < 0 {
		neg, v = "-", -v
	}
	for _, u := range []struct {
		name string
		n    float64
	}{{"PB", 1 << 50}, {"TB", 1 << 40}, {"GB", 1 << 30}, {"MB", 1 << 20}, {"kB", 1 << 10}} {
		if v >= u.n {
			return neg + strconv.FormatFloat(math.Round(v/u.n*100)/100, 'f', -1, 64) + u.name
		}
	}
	return neg + strconv.FormatFloat(math.Round(v), 'f', -1, 64) + "B"
}

// reasonOf is the part of a wait reason after its position (the table
// shows the position already).
func reasonOf(r string) string {
	if _, why, ok := strings.Cut(r, ": "); ok {
		return why
	}
	return ""
}

// printQueue writes the queue as a table.
func printQueue(w io.Writer, q []workload.QueueItem) error {
	if len(q) == 0 {
		fmt.Fprintln(w, "The gateway's queue is empty.")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "POSITION\tID\tCLASS\tUSER\tSTATE\tWAITED\tREASON")
	for _, it := range q {
		pos := "-"
		if it.Position > 0 {
			pos = strconv.Itoa(it.Position)
		}
		state := it.State
		if it.Cluster != "" {
			state += " (" + it.Cluster + ")"
		}
		if it.Error != "" {
			state += " (" + oneLine(it.Error, 60) + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", pos, it.ID, orDash(it.Class), it.User, state, it.Waited, orDash(reasonOf(it.Reason)))
	}
	return tw.Flush()
}

// printHistory writes the recent queries as a table.
func printHistory(w io.Writer, rs []store.QueryRecord) error {
	if len(rs) == 0 {
		fmt.Fprintln(w, "No recent queries (none reported yet, or the control plane keeps no history).")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "QUERY ID\tUSER\tCLASS\tCLUSTER\tSTATE\tCPU SECONDS\tSCANNED\tENDED")
	for _, r := range rs {
		state := r.State
		if r.ErrorName != "" {
			state += " (" + r.ErrorName + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.QueryID, r.User, orDash(r.Class), orDash(r.Cluster), state,
			fmtNum(r.CPUSeconds), fmtBytes(float64(r.ScannedBytes)), fmtTime(r.Ended))
	}
	return tw.Flush()
}

// scopeName names a class, or a user within it.
func scopeName(class, user string) string {
	if user == "" {
		return "class " + class
	}
	return "user " + user + " in class " + class
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func orNoneList(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// completeClass completes --class with the classes of the governance view
// (nothing, silently, when the API does not answer).
func (o *adminOptions) completeClass(c *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	var u workload.Usage
	if !o.completeGet(c, governancePath, &u) {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []cobra.Completion
	for _, cl := range u.Classes {
		if strings.HasPrefix(cl.Name, toComplete) {
			out = append(out, cobra.CompletionWithDesc(cl.Name, fmt.Sprintf("priority %d, %d running, %d queued", cl.Priority, cl.Running, cl.Queued)))
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeQueuedID completes cancel's ID with the queued queries.
func (o *adminOptions) completeQueuedID(c *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	var q []workload.QueueItem
	if len(args) > 0 || !o.completeGet(c, queuePath, &q) {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []cobra.Completion
	for _, it := range q {
		if it.Position > 0 && strings.HasPrefix(it.ID, toComplete) {
			out = append(out, cobra.CompletionWithDesc(it.ID, fmt.Sprintf("#%d, %s in %s, waited %s", it.Position, it.User, orDash(it.Class), it.Waited)))
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeGet reads path for a completion, within completeTimeout.
func (o *adminOptions) completeGet(c *cobra.Command, path string, out any) bool {
	ctx := c.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, completeTimeout)
	defer cancel()
	return o.client(c).do(ctx, http.MethodGet, path, nil, out) == nil
}

// Package cli is the switchyard command line, built on cobra: Run parses
// the arguments and runs a command, so tests can run the real program
// logic in-process.
package cli

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// Version is set at build time.
var Version = "dev"

// ErrUsage marks a command-line mistake (exit status 2): an unknown
// command or flag, a missing or surplus argument, a bad flag value.
var ErrUsage = errors.New("usage error")

// drainPoll is how often --wait reads a draining cluster.
const drainPoll = 500 * time.Millisecond

// Run runs the command line args (without the program name), writing
// output to stdout and diagnostics to stderr. --help and help print to
// stdout and return nil; a usage mistake returns an error wrapping
// ErrUsage that names it and points at --help.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return run(ctx, args, stdout, stderr, drainPoll)
}

// ExitCode is the process exit status for an error returned by Run: 0 for
// nil, 2 for a usage mistake, 1 for any other failure.
func ExitCode(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrUsage):
		return 2
	}
	return 1
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, poll time.Duration) error {
	root := newRootCmd(poll)
	// A nil slice would make cobra read os.Args.
	root.SetArgs(append([]string{}, args...))
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return nil
	}
	// Errors a command's RunE returned are the command's own; anything else
	// came from cobra's parsing (unknown command or flag, bad flag value,
	// missing required flag, wrong arguments): a usage mistake.
	var re *runError
	if errors.As(err, &re) {
		return re.err
	}
	if errors.Is(err, ErrUsage) {
		return err
	}
	if cmd == nil {
		cmd = root
	}
	return &usageError{cmd: cmd.CommandPath(), msg: err.Error()}
}

func newRootCmd(poll time.Duration) *cobra.Command {
	root := &cobra.Command{
		Use:   "switchyard",
		Short: "One address for a fleet of Trino clusters",
		Long: `switchyard: one address for a fleet of Trino clusters (Envoy data path, Go control plane).

The commands that call the control plane's admin API (cluster, bluegreen,
policy upload, decisions and eval, queries, governance, audit) take --admin URL
and --token TOKEN, with defaults from SWITCHYARD_ADMIN and
SWITCHYARD_TOKEN.`,
		Args:                       unknownCommand,
		RunE:                       missingCommand,
		SuggestionsMinimumDistance: 2,
		SilenceErrors:              true,
		SilenceUsage:               true,
		CompletionOptions:          cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	root.AddGroup(
		&cobra.Group{ID: groupGateway, Title: "Run the gateway:"},
		&cobra.Group{ID: groupFleet, Title: "Operate the fleet (admin API):"},
	)
	help := newHelpCmd()
	root.AddCommand(
		newServeCmd(), newValidateCmd(), newBootstrapCmd(),
		newTrinoCmd(), newTokenCmd(),
		newClusterCmd(poll), newBlueGreenCmd(poll), newPolicyCmd(), newQueriesCmd(),
		newGovernanceCmd(), newProtectionCmd(), newAuditCmd(), newDoctorCmd(),
		newVersionCmd(), newCompletionCmd(), help,
	)
	root.SetHelpCommand(help)
	root.SetUsageTemplate(usageTemplate(root.UsageTemplate()))
	markRunErrors(root)
	return root
}

// usageTemplate adapts cobra's usage template: a command with subcommands
// shows only "CMD [command]" (it runs only to report a missing or unknown
// command), and flags inherited from a parent are not "global".
func usageTemplate(t string) string {
	t = strings.Replace(t, "{{if .Runnable}}", "{{if and .Runnable (not .HasAvailableSubCommands)}}", 1)
	return strings.Replace(t, "Global Flags:", "Inherited Flags:", 1)
}

const (
	groupGateway = "gateway"
	groupFleet   = "fleet"
)

// runError carries an error a command's RunE returned, so Run can tell it
// from cobra's parsing errors.
type runError struct{ err error }

func (e *runError) Error() string { return e.err.Error() }
func (e *runError) Unwrap() error { return e.err }

// markRunErrors wraps the RunE of c and every command below it in runError.
func markRunErrors(c *cobra.Command) {
	if f := c.RunE; f != nil {
		c.RunE = func(c *cobra.Command, args []string) error {
			if err := f(c, args); err != nil {
				return &runError{err: err}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		markRunErrors(sub)
	}
}

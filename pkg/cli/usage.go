package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// usageError is a command-line mistake: it names the mistake and points at
// the command's --help.
type usageError struct {
	cmd string // command path, e.g. "switchyard cluster drain"
	msg string
}

func (e *usageError) Error() string {
	return fmt.Sprintf("%s (see '%s --help')", e.msg, e.cmd)
}

// Is makes errors.Is(err, ErrUsage) true.
func (e *usageError) Is(target error) bool { return target == ErrUsage }

func usageErrorf(c *cobra.Command, format string, args ...any) error {
	return &usageError{cmd: c.CommandPath(), msg: fmt.Sprintf(format, args...)}
}

// unknownCommand is the Args check of a command with subcommands: any
// argument left after cobra found the deepest command is a command name it
// does not have.
func unknownCommand(c *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
	if s := c.SuggestionsFor(args[0]); len(s) > 0 {
		msg += fmt.Sprintf("; did you mean %s?", strings.Join(s, " or "))
	}
	return usageErrorf(c, "%s", msg)
}

// newGroupCmd is a command that only holds subcommands: run without one,
// or with an unknown one, it is a usage mistake.
func newGroupCmd(name, short string) *cobra.Command {
	return &cobra.Command{
		Use:                        name + " COMMAND",
		Short:                      short,
		Args:                       unknownCommand,
		RunE:                       missingCommand,
		SuggestionsMinimumDistance: 2,
	}
}

// missingCommand is the RunE of a command with subcommands run without one.
func missingCommand(c *cobra.Command, _ []string) error {
	var names []string
	for _, sub := range c.Commands() {
		if sub.IsAvailableCommand() {
			names = append(names, sub.Name())
		}
	}
	return usageErrorf(c, "%q needs a command: %s", c.CommandPath(), strings.Join(names, ", "))
}

// positional checks that a command got exactly the named positional
// arguments.
func positional(names ...string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		switch {
		case len(args) < len(names):
			return usageErrorf(c, "missing %s", strings.Join(names[len(args):], " "))
		case len(args) > len(names):
			return usageErrorf(c, "unexpected arguments: %s", strings.Join(args[len(names):], " "))
		}
		return nil
	}
}

// required marks flags required (cobra reports them when absent, and
// completion offers them first) and returns a check that they are not
// empty either, for a command's PreRunE.
func required(c *cobra.Command, names ...string) func() error {
	for _, n := range names {
		if err := c.MarkFlagRequired(n); err != nil {
			panic(err) // a programming error: the flag is not defined
		}
	}
	return func() error {
		for _, n := range names {
			if c.Flags().Lookup(n).Value.String() == "" {
				return usageErrorf(c, "--%s is required", n)
			}
		}
		return nil
	}
}

// newHelpCmd is "switchyard help [command]": like cobra's, but an unknown
// topic is a usage mistake rather than the root's usage and exit 0.
func newHelpCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		Long:  "Help prints the help of any command: switchyard help [path to command].",
		Args:  cobra.ArbitraryArgs,
		ValidArgsFunction: func(c *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			target, rest, err := c.Root().Find(args)
			if err != nil || len(rest) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var out []cobra.Completion
			for _, sub := range target.Commands() {
				if sub.IsAvailableCommand() && strings.HasPrefix(sub.Name(), toComplete) {
					out = append(out, cobra.CompletionWithDesc(sub.Name(), sub.Short))
				}
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(c *cobra.Command, args []string) error {
			target, rest, err := c.Root().Find(args)
			if err != nil {
				return usageErrorf(c, "%v", err)
			}
			if len(rest) > 0 {
				return unknownCommand(target, rest)
			}
			return target.Help()
		},
	}
}

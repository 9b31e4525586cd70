package cli

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// commandPaths lists the argument paths of every command in the tree
// (nil for the root), so a new command is covered without editing a test.
func commandPaths() [][]string {
	var paths [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		paths = append(paths, path)
		for _, sub := range c.Commands() {
			walk(sub, append(append([]string{}, path...), sub.Name()))
		}
	}
	walk(newRootCmd(time.Millisecond), nil)
	return paths
}

// noAPI points SWITCHYARD_ADMIN at a server that fails the test on any
// request: help, usage errors and completion scripts never call the API.
func noAPI(t *testing.T) {
	t.Helper()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, "unexpected call", http.StatusTeapot)
	}))
	t.Cleanup(func() {
		srv.Close()
		if n := calls.Load(); n > 0 {
			t.Errorf("%d admin API calls, want none", n)
		}
	})
	t.Setenv(envAdmin, srv.URL)
	t.Setenv(envToken, "")
}

func TestHelpEverywhere(t *testing.T) {
	noAPI(t)
	root := newRootCmd(time.Millisecond)
	paths := commandPaths()
	if len(paths) < 20 {
		t.Fatalf("walked %d commands, want the whole tree (20 or more)", len(paths))
	}
	for _, path := range paths {
		cmd, _, err := root.Find(path)
		if err != nil {
			t.Fatalf("find %v: %v", path, err)
		}
		desc := cmd.Long
		if desc == "" {
			desc = cmd.Short
		}
		desc, _, _ = strings.Cut(desc, "\n")
		// A command with subcommands runs only to report a missing or
		// unknown one: its usage shows only "CMD [command]". (cobra adds
		// " [flags]" to a leaf's line or not depending on whether its help
		// flag exists yet.)
		usage := "Usage:\n  " + strings.TrimSuffix(cmd.UseLine(), " [flags]")
		if cmd.HasAvailableSubCommands() {
			usage = "Usage:\n  " + cmd.CommandPath() + " [command]\n\n"
		}
		for _, args := range [][]string{
			append(append([]string{}, path...), "--help"),
			append(append([]string{}, path...), "-h"),
			append([]string{"help"}, path...),
		} {
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				var out, errOut bytes.Buffer
				// The exported seam, as main calls it.
				if err := Run(context.Background(), args, &out, &errOut); err != nil {
					t.Fatalf("got %v, want nil (exit 0)", err)
				}
				for _, want := range []string{usage, desc} {
					if !strings.Contains(out.String(), want) {
						t.Errorf("stdout lacks %q:\n%s", want, out.String())
					}
				}
				if errOut.Len() > 0 {
					t.Errorf("stderr = %q, want nothing", errOut.String())
				}
			})
		}
	}
}

func TestHelpShowsEnvironmentNotToken(t *testing.T) {
	t.Setenv(envAdmin, "http://cp.example:9080")
	t.Setenv(envToken, "s3cret-token-value")
	for _, path := range [][]string{{"cluster", "drain"}, {"bluegreen"}, {"policy", "upload"}, {"policy", "decisions"}, {"policy", "eval"}} {
		t.Run(strings.Join(path, " "), func(t *testing.T) {
			out, _, err := runCLI(append(path, "--help")...)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"--admin URL", "--token token", envAdmin, envToken, `(default "http://cp.example:9080")`} {
				if !strings.Contains(out, want) {
					t.Errorf("help lacks %q:\n%s", want, out)
				}
			}
			if strings.Contains(out, "s3cret-token-value") {
				t.Errorf("help shows the token:\n%s", out)
			}
		})
	}
	// bootstrap --admin is Envoy's admin address, not the control plane's.
	out, _, err := runCLI("bootstrap", "--help")
	if err != nil || !strings.Contains(out, "Envoy admin address") || strings.Contains(out, envAdmin) || strings.Contains(out, "--token") {
		t.Errorf("bootstrap help: %v\n%s", err, out)
	}
	if out, _, _ := runCLI("policy", "test", "--help"); strings.Contains(out, "--admin") {
		t.Errorf("policy test (local only) takes --admin:\n%s", out)
	}
}

func TestUnknownFlagEverywhere(t *testing.T) {
	noAPI(t)
	for _, path := range commandPaths() {
		args := append(append([]string{}, path...), "--no-such-flag")
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			out, _, err := runCLI(args...)
			if !errors.Is(err, ErrUsage) {
				t.Fatalf("got %v, want a usage error", err)
			}
			if msg := err.Error(); !strings.Contains(msg, "unknown flag: --no-such-flag") || !strings.Contains(msg, "--help')") {
				t.Errorf("message %q does not name the flag and point at --help", msg)
			}
			if out != "" {
				t.Errorf("stdout = %q, want nothing", out)
			}
		})
	}
}

func TestUsageMistakes(t *testing.T) {
	noAPI(t)
	tests := []struct {
		args []string
		want string // in the message
		help string // the --help it points at
	}{
		{nil, `"switchyard" needs a command: audit, bluegreen, bootstrap, cluster`, "switchyard"},
		{[]string{"nope"}, `unknown command "nope" for "switchyard"`, "switchyard"},
		{[]string{"clustr"}, "did you mean cluster?", "switchyard"},
		{[]string{"cluster"}, `"switchyard cluster" needs a command: activate, add`, "switchyard cluster"},
		{[]string{"cluster", "lsit"}, "did you mean list?", "switchyard cluster"},
		{[]string{"policy"}, `"switchyard policy" needs a command`, "switchyard policy"},
		{[]string{"policy", "run"}, `unknown command "run" for "switchyard policy"`, "switchyard policy"},
		{[]string{"serve"}, `required flag(s) "config" not set`, "switchyard serve"},
		{[]string{"serve", "--config", ""}, "--config is required", "switchyard serve"},
		{[]string{"serve", "--config"}, "flag needs an argument: --config", "switchyard serve"},
		{[]string{"serve", "--config", "x.yaml", "extra"}, "unexpected arguments: extra", "switchyard serve"},
		{[]string{"validate"}, `required flag(s) "config" not set`, "switchyard validate"},
		{[]string{"bootstrap", "extra"}, "unexpected arguments: extra", "switchyard bootstrap"},
		{[]string{"bootstrap", "--max-connections", "many"}, `invalid argument "many" for "--max-connections"`, "switchyard bootstrap"},
		{[]string{"version", "x"}, "unexpected arguments: x", "switchyard version"},
		{[]string{"cluster", "list", "blue"}, "unexpected arguments: blue", "switchyard cluster list"},
		{[]string{"cluster", "add"}, "missing NAME", "switchyard cluster add"},
		{[]string{"cluster", "add", "red", "blue"}, "unexpected arguments: blue", "switchyard cluster add"},
		{[]string{"cluster", "add", "red", "--weight", "heavy"}, `invalid argument "heavy" for "--weight"`, "switchyard cluster add"},
		{[]string{"cluster", "remove"}, "missing NAME", "switchyard cluster remove"},
		{[]string{"cluster", "activate"}, "missing NAME", "switchyard cluster activate"},
		{[]string{"cluster", "deactivate", "a", "b"}, "unexpected arguments: b", "switchyard cluster deactivate"},
		{[]string{"cluster", "drain", "--wait"}, "missing NAME", "switchyard cluster drain"},
		{[]string{"cluster", "drain", "blue", "--timeout", "soon"}, `invalid argument "soon" for "--timeout"`, "switchyard cluster drain"},
		{[]string{"cluster", "weight", "blue"}, "missing N", "switchyard cluster weight"},
		{[]string{"cluster", "weight", "blue", "heavy"}, `weight "heavy" is not a number`, "switchyard cluster weight"},
		{[]string{"cluster", "weight", "blue", "1", "2"}, "unexpected arguments: 2", "switchyard cluster weight"},
		{[]string{"bluegreen"}, `required flag(s) "group", "to" not set`, "switchyard bluegreen"},
		{[]string{"bluegreen", "--group", "adhoc"}, `required flag(s) "to" not set`, "switchyard bluegreen"},
		{[]string{"bluegreen", "--group", "", "--to", "green"}, "--group is required", "switchyard bluegreen"},
		{[]string{"bluegreen", "--group", "adhoc", "--to", "green", "--wait=maybe"}, `invalid argument "maybe" for "--wait"`, "switchyard bluegreen"},
		{[]string{"bluegreen", "--group", "adhoc", "--to", "green", "--health-timeout", "2"}, `invalid argument "2" for "--health-timeout"`, "switchyard bluegreen"},
		{[]string{"policy", "test", "policies"}, "unexpected arguments: policies", "switchyard policy test"},
		{[]string{"policy", "decisions", "--limit", "all"}, `invalid argument "all" for "--limit"`, "switchyard policy decisions"},
		{[]string{"policy", "eval", "--sql", "SELECT 1", "--header", "X-Trino-Catalog"}, `--header "X-Trino-Catalog" is not K=V`, "switchyard policy eval"},
		{[]string{"help", "nope"}, `unknown command "nope" for "switchyard"`, "switchyard"},
		{[]string{"help", "cluster", "nope"}, `unknown command "nope" for "switchyard cluster"`, "switchyard cluster"},
		{[]string{"completion"}, "missing SHELL", "switchyard completion"},
		{[]string{"completion", "tcsh"}, `unknown shell "tcsh": want one of bash, zsh, fish, powershell`, "switchyard completion"},
		{[]string{"completion", "bash", "zsh"}, "unexpected arguments: zsh", "switchyard completion"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, _, err := runCLI(tt.args...)
			if !errors.Is(err, ErrUsage) {
				t.Fatalf("got %v, want a usage error", err)
			}
			if ExitCode(err) != 2 {
				t.Errorf("exit code %d, want 2", ExitCode(err))
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) {
				t.Errorf("message %q lacks %q", msg, tt.want)
			}
			if want := "(see '" + tt.help + " --help')"; !strings.HasSuffix(msg, want) {
				t.Errorf("message %q does not end with %q", msg, want)
			}
			if out != "" {
				t.Errorf("stdout = %q, want nothing", out)
			}
		})
	}
}

func TestCompletionScripts(t *testing.T) {
	noAPI(t)
	for _, tt := range []struct{ shell, marker string }{
		{"bash", "# bash completion V2 for switchyard"},
		{"zsh", "#compdef switchyard"},
		{"fish", "complete -c switchyard"},
		{"powershell", "Register-ArgumentCompleter"},
	} {
		t.Run(tt.shell, func(t *testing.T) {
			out, errOut, err := runCLI("completion", tt.shell)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, tt.marker) || !strings.Contains(out, "__complete") {
				t.Errorf("%s script lacks %q or the __complete call (%d bytes)", tt.shell, tt.marker, len(out))
			}
			if errOut != "" {
				t.Errorf("stderr = %q", errOut)
			}
		})
	}
}

func TestCommandCompletion(t *testing.T) {
	noAPI(t)
	tests := []struct {
		args []string
		want []string // candidates (before the tab and description)
	}{
		{[]string{"__complete", "cl"}, []string{"cluster"}},
		{[]string{"__complete", "cluster", "d"}, []string{"deactivate", "drain"}},
		{[]string{"__complete", "completion", ""}, shells},
		{[]string{"__complete", "help", "cluster", "w"}, []string{"weight"}},
		{[]string{"__complete", "cluster", "drain", "blue", "--sh"}, []string{"--shutdown-workers"}},
		// Required flags not yet given are the only ones offered.
		{[]string{"__complete", "bluegreen", "--"}, []string{"--group", "--to"}},
		{[]string{"__complete", "bluegreen", "--group", "adhoc", "--"}, []string{"--to"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, _, err := runCLI(tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			if got := candidates(t, out); strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("candidates %v, want %v", got, tt.want)
			}
		})
	}
}

// candidates parses the output of cobra's __complete: one candidate a
// line (with an optional tab and description), then ":directive".
func candidates(t *testing.T, out string) []string {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[len(lines)-1], ":") {
		t.Fatalf("no directive line in %q", out)
	}
	var got []string
	for _, l := range lines[:len(lines)-1] {
		name, _, _ := strings.Cut(l, "\t")
		got = append(got, name)
	}
	return got
}

func TestExitCode(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want int
	}{
		{nil, 0},
		{ErrUsage, 2},
		{&usageError{cmd: "switchyard", msg: "x"}, 2},
		{&APIError{Status: 409, Message: "x"}, 1},
		{ErrDrainTimedOut, 1},
		{context.Canceled, 1},
	} {
		if got := ExitCode(tt.err); got != tt.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

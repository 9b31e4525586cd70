// Package cli is the switchyard command line: Run parses the arguments and
// runs a subcommand, so tests can run the real program logic in-process.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/switchyard-gw/switchyard/pkg/config"
	"github.com/switchyard-gw/switchyard/pkg/server"
	"github.com/switchyard-gw/switchyard/pkg/xds"
)

// Version is set at build time.
var Version = "dev"

const usage = `switchyard: one address for a fleet of Trino clusters (Envoy data path, Go control plane)

Usage:
  switchyard serve --config FILE        run the control plane (xDS, ext_proc, admin API)
  switchyard validate --config FILE     check a configuration file and exit
  switchyard bootstrap [flags]          print an Envoy bootstrap that points at the control plane
  switchyard cluster COMMAND            list, add, remove, activate, deactivate, drain, weight
  switchyard bluegreen --group G --to CLUSTER[,...]
                                        move a routing group to other clusters, draining the old ones
  switchyard policy COMMAND             test, eval (dry run with explanation), upload, decisions
  switchyard version                    print the version
`

// ErrUsage marks a command-line mistake (exit status 2).
var ErrUsage = errors.New("usage error")

// Run runs the command named by args[0].
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return ErrUsage
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stderr)
	case "validate":
		return validate(args[1:], stdout, stderr)
	case "bootstrap":
		return bootstrap(args[1:], stdout, stderr)
	case "cluster":
		return clusterCmd(ctx, args[1:], stdout, stderr)
	case "bluegreen":
		return blueGreenCmd(ctx, args[1:], stdout, stderr)
	case "policy":
		return policyCmd(ctx, args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "switchyard", Version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "unknown command %q\n\n%s", args[0], usage)
	return ErrUsage
}

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("switchyard "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return ErrUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return ErrUsage
	}
	return nil
}

func serve(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlags("serve", stderr)
	path := fs.String("config", "", "configuration file (YAML)")
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	format := fs.String("log-format", "text", "log format: text or json")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *path == "" {
		fmt.Fprintln(stderr, "serve: --config is required")
		return ErrUsage
	}
	log, err := newLogger(stderr, *level, *format)
	if err != nil {
		return err
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	s, err := server.New(cfg, log)
	if err != nil {
		return err
	}
	return s.Run(ctx)
}

func validate(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("validate", stderr)
	path := fs.String("config", "", "configuration file (YAML)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *path == "" {
		fmt.Fprintln(stderr, "validate: --config is required")
		return ErrUsage
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: ok (%d groups, %d clusters)\n", *path, len(cfg.Groups), len(cfg.Clusters))
	return nil
}

func bootstrap(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bootstrap", stderr)
	node := fs.String("node-id", "envoy-1", "Envoy node ID")
	xdsAddr := fs.String("xds", "127.0.0.1:18000", "control-plane xDS address(es), comma separated")
	adminAddr := fs.String("admin", "127.0.0.1:9901", "Envoy admin address")
	maxConns := fs.Int("max-connections", 50000, "global downstream connection limit")
	if err := parse(fs, args); err != nil {
		return err
	}
	out, err := xds.Bootstrap(xds.BootstrapOptions{
		NodeID: *node, XDSAddresses: strings.Split(*xdsAddr, ","), AdminAddress: *adminAddr, MaxConnections: *maxConns,
	})
	if err != nil {
		return err
	}
	_, err = io.WriteString(stdout, out)
	return err
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: must be text or json, got %q", format)
}

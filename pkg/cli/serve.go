package cli

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/switchyard-gw/switchyard/pkg/config"
	"github.com/switchyard-gw/switchyard/pkg/server"
)

func newServeCmd() *cobra.Command {
	var path, level, format string
	c := &cobra.Command{
		Use:     "serve --config FILE",
		Short:   "Run the control plane (xDS, ext_proc, admin API)",
		GroupID: groupGateway,
		Args:    positional(),
	}
	c.Flags().StringVar(&path, "config", "", "configuration file (YAML; required)")
	c.Flags().StringVar(&level, "log-level", "info", "log level: debug, info, warn, error")
	c.Flags().StringVar(&format, "log-format", "text", "log format: text or json")
	check := required(c, "config")
	c.RunE = func(c *cobra.Command, _ []string) error {
		if err := check(); err != nil {
			return err
		}
		log, err := newLogger(c.ErrOrStderr(), level, format)
		if err != nil {
			return err
		}
		cfg, err := config.Load(path)
		if err != nil {
			return err
		}
		s, err := server.New(cfg, log)
		if err != nil {
			return err
		}
		return s.Run(c.Context())
	}
	return c
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

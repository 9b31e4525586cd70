// Command loadgen drives a Trino-protocol server (the gateway, a
// coordinator or trinosim) with e2e/loadgen and prints the Results as JSON.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/switchyard-gw/switchyard/e2e/loadgen"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		slog.Error("loadgen failed", "err", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	var cfg loadgen.Config
	fs.StringVar(&cfg.URL, "url", "http://127.0.0.1:8080", "server base URL")
	fs.StringVar(&cfg.SQL, "sql", loadgen.DefaultSQL, "statement text of every query")
	fs.StringVar(&cfg.User, "user", loadgen.DefaultUser, "X-Trino-User")
	fs.IntVar(&cfg.Concurrency, "concurrency", 1, "closed-loop workers")
	fs.Float64Var(&cfg.Rate, "rate", 0, "open loop: queries started per second (0 = closed loop)")
	fs.IntVar(&cfg.MaxInFlight, "max-in-flight", loadgen.DefaultMaxInFlight, "open loop: cap on running queries")
	fs.DurationVar(&cfg.Duration, "duration", 0, "measured duration after warm-up (10s if neither this nor --max-queries is set)")
	fs.DurationVar(&cfg.Warmup, "warmup", 0, "warm-up before the measured window")
	fs.Int64Var(&cfg.MaxQueries, "max-queries", 0, "measured queries to run (0 = no limit)")
	fs.DurationVar(&cfg.RequestTimeout, "timeout", loadgen.DefaultRequestTimeout, "timeout of each HTTP request")
	pids := fs.String("pids", "", "processes to account, comma-separated name=pid (or bare pid)")
	self := fs.Bool("self", true, `also account this process, as "loadgen"`)
	headers := http.Header{}
	fs.Func("header", `extra request header "Name: value" (repeatable)`, func(s string) error {
		k, v, ok := strings.Cut(s, ":")
		if !ok || strings.TrimSpace(k) == "" {
			return fmt.Errorf("header %q: want \"Name: value\"", s)
		}
		headers.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if cfg.Duration == 0 && cfg.MaxQueries == 0 {
		cfg.Duration = 10 * time.Second
	}
	cfg.Headers = headers
	var err error
	if cfg.PIDs, err = parsePIDs(*pids); err != nil {
		return err
	}
	if *self {
		cfg.PIDs["loadgen"] = os.Getpid()
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, runErr := loadgen.Run(ctx, cfg)
	if res != nil {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return fmt.Errorf("writing results: %w", err)
		}
	}
	return runErr
}

// parsePIDs parses "envoy=123,switchyard=456"; a bare PID is named by
// itself.
func parsePIDs(s string) (map[string]int, error) {
	out := map[string]int{}
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, num, ok := strings.Cut(item, "=")
		if !ok {
			name, num = item, item
		}
		pid, err := strconv.Atoi(strings.TrimSpace(num))
		if err != nil || pid <= 0 {
			return nil, fmt.Errorf("--pids item %q: want name=pid with a positive pid", item)
		}
		out[strings.TrimSpace(name)] = pid
	}
	return out, nil
}

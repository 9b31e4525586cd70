// Command trinosim serves the Trino protocol simulator of e2e/trinosim on
// a TCP address, for benchmarks and manual tests.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/switchyard-gw/switchyard/e2e/trinosim"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		slog.Error("trinosim failed", "err", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("trinosim", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8081", "TCP address to listen on")
	var o trinosim.Options
	fs.IntVar(&o.Pages, "pages", trinosim.DefaultPages, "executing pages with data per query")
	fs.IntVar(&o.RowsPerPage, "rows", trinosim.DefaultRowsPerPage, "rows per data page")
	fs.IntVar(&o.Columns, "columns", trinosim.DefaultColumns, "result columns (bigint and varchar alternating)")
	fs.IntVar(&o.QueuedPolls, "queued-polls", trinosim.DefaultQueuedPolls, "GETs on queued URIs before executing")
	fs.DurationVar(&o.Delay, "delay", 0, "delay added to every request")
	fs.DurationVar(&o.Retention, "retention", trinosim.DefaultRetention, "how long finished queries are kept")
	fs.IntVar(&o.MaxHistory, "max-history", trinosim.DefaultMaxHistory, "finished queries kept at most")
	fs.StringVar(&o.Name, "name", "", "name sent in the X-Trinosim-Name response header")
	fs.StringVar(&o.EventsURL, "events-url", "", "post Trino HTTP event listener events (query completed) to this URL, e.g. http://gateway-admin/events/trino")
	fs.StringVar(&o.EventSecret, "event-secret", "", "value of the "+trinosim.EventSecretHeader+" header sent with every event")
	fs.BoolVar(&o.EventsCreated, "events-created", false, "also post a query created event per submission")
	fs.IntVar(&o.EventQueue, "event-queue", trinosim.DefaultEventQueue, "events waiting to be posted at most (more are dropped and counted)")
	fs.IntVar(&o.EventWorkers, "event-workers", trinosim.DefaultEventWorkers, "events posted at once")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", *listen, err)
	}
	sim := trinosim.New(o)
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Printf("trinosim listening on %s\n", ln.Addr())
	if o.EventsURL != "" {
		fmt.Printf("trinosim posting query events to %s\n", o.EventsURL)
	}

	select {
	case err := <-served:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shutting down: %w", err)
	}
	if o.EventsURL != "" {
		_ = sim.Close(shutdownCtx) // what is still queued when the time is up is dropped (counted)
		st := sim.EventStats()
		fmt.Printf("trinosim query events: %d posted, %d failed, %d dropped\n", st.Posted, st.Failed, st.Dropped)
	}
	return nil
}

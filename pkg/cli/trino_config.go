package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/switchyard-gw/switchyard/pkg/trinosize"
)

func newTrinoConfigCmd() *cobra.Command {
	var (
		memory, workerMemory, role, format, outputDir string
		exchangeDir, spillDir                         string
		cores, workers                                int
		fte, spill                                    bool
	)
	c := &cobra.Command{
		Use:   "config --memory SIZE --cores N --role coordinator|worker [flags]",
		Short: "Right-size a Trino 476 node's memory settings (jvm.config, config.properties)",
		Long: `Right-size the memory settings of a Trino 476 node from its memory and CPUs:
jvm.config, the sizing properties of config.properties and, with --fte,
exchange-manager.properties. Each value comes with the rule that produced it,
as a comment above it.

The heap is 70% of the node's memory below 32GiB and 80% from 32GiB; 30% of
the heap is headroom for memory Trino does not track, and one query may use
half of the rest on a node, so two fit side by side (Trino refuses to start
unless headroom + query.max-memory-per-node stays below the heap).
query.max-memory is that per-node limit on every worker (--workers, with
--worker-memory when workers differ from this node). The CPU-based settings
are written out from --cores, because a JVM in a container may count the
host's CPUs: task.max-worker-threads as Trino computes it, task.concurrency
as the largest power of two up to the cores (Trino rounds up).

--fte adds task retries (retry-policy=TASK) with the filesystem exchange
manager spooling to --exchange-dir: a directory every node shares, or
s3://bucket (then add exchange.s3.region and, for MinIO, exchange.s3.endpoint
and exchange.s3.path-style-access=true). --spill spills to --spill-dir
(comma-separated, one directory a local disk, not the system drive).

config.properties holds only the sizing properties: merge them into the
node's own (http-server.http.port, discovery.uri, ...). Sizes use Trino's
units, which are binary: its GB is 1024^3 bytes (GiB). Notes (a node too
small for production, a local exchange directory) go to standard error.`,
		Example: `  switchyard trino config --memory 64GiB --cores 16 --role worker --workers 8
  switchyard trino config --memory 16GiB --cores 4 --role coordinator --workers 8 --worker-memory 64GiB \
      --fte --exchange-dir s3://trino-exchange
  switchyard trino config --memory 128GiB --cores 32 --role worker --spill --spill-dir /mnt/d1,/mnt/d2 --output-dir etc
  switchyard trino config --memory 4GiB --cores 2 --role worker --format json`,
		Args: positional(),
	}
	fl := c.Flags()
	fl.StringVar(&memory, "memory", "", "the node's memory or container limit, e.g. 64GiB (required)")
	fl.IntVar(&cores, "cores", 0, "CPUs the node may use (required)")
	fl.StringVar(&role, "role", "", "coordinator or worker (required)")
	fl.IntVar(&workers, "workers", 0, "workers in the cluster (required for a coordinator; sizes query.max-memory)")
	fl.StringVar(&workerMemory, "worker-memory", "", "memory of each worker, when it differs from --memory (e.g. for a smaller coordinator)")
	fl.BoolVar(&fte, "fte", false, "fault-tolerant execution: retry-policy=TASK and exchange-manager.properties")
	fl.BoolVar(&spill, "spill", false, "spill to disk")
	fl.StringVar(&exchangeDir, "exchange-dir", trinosize.DefaultExchangeDir, "exchange.base-directories with --fte: a shared directory or s3://bucket")
	fl.StringVar(&spillDir, "spill-dir", trinosize.DefaultSpillDir, "spiller-spill-path with --spill: comma-separated directories")
	fl.StringVar(&format, "format", "properties", "properties (the files, rules as comments) or json")
	fl.StringVar(&outputDir, "output-dir", "", "write the files into this directory (created; existing files are not overwritten) instead of printing them")
	check := required(c, "memory", "cores", "role")
	c.RunE = func(c *cobra.Command, _ []string) error {
		if err := check(); err != nil {
			return err
		}
		in := trinosize.Input{
			Cores: cores, Workers: workers, FTE: fte, Spill: spill,
			ExchangeDir: exchangeDir, SpillDir: spillDir,
		}
		var err error
		if in.Memory, err = sizeFlag(c, "memory", memory); err != nil {
			return err
		}
		if workerMemory != "" {
			if in.WorkerMemory, err = sizeFlag(c, "worker-memory", workerMemory); err != nil {
				return err
			}
		}
		switch in.Role = trinosize.Role(role); in.Role {
		case trinosize.Coordinator, trinosize.Worker:
		default:
			return usageErrorf(c, "--role must be coordinator or worker, not %q", role)
		}
		if format != "properties" && format != "json" {
			return usageErrorf(c, "--format must be properties or json, not %q", format)
		}
		if outputDir != "" && format == "json" {
			return usageErrorf(c, "--output-dir writes Trino's files, --format json prints them as JSON: use one")
		}
		// Compute fails only on input it cannot size: a flag value.
		r, err := trinosize.Compute(in)
		if err != nil {
			return usageErrorf(c, "%v", err)
		}
		switch {
		case outputDir != "":
			err = writeTrinoFiles(c, outputDir, r.Files)
		case format == "json":
			err = writeJSON(c, r)
		default:
			err = printTrinoFiles(c, r.Files)
		}
		if err != nil {
			return err
		}
		for _, n := range r.Notes {
			fmt.Fprintf(c.ErrOrStderr(), "note: %s\n", n)
		}
		return nil
	}
	return c
}

// sizeFlag reads a size flag, naming the flag in the error.
func sizeFlag(c *cobra.Command, name, v string) (int64, error) {
	n, err := trinosize.ParseSize(v)
	if err != nil {
		reason := err.Error()
		var se *trinosize.SizeError
		if errors.As(err, &se) {
			reason = se.Reason
		}
		return 0, usageErrorf(c, "--%s: %q is not a size (use e.g. 64GiB): %s", name, v, reason)
	}
	return n, nil
}

func printTrinoFiles(c *cobra.Command, files []trinosize.File) error {
	w := c.OutOrStdout()
	for i, f := range files {
		if i > 0 {
			if _, err := fmt.Fprintln(w); err != nil {
				return err
			}
		}
		if _, err := fmt.Fprintf(w, "# ==> %s <==\n", f.Name); err != nil {
			return err
		}
		if _, err := w.Write(f.Render()); err != nil {
			return err
		}
	}
	return nil
}

func writeJSON(c *cobra.Command, r trinosize.Result) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	_, err = c.OutOrStdout().Write(append(b, '\n'))
	return err
}

// writeTrinoFiles writes the files into dir, creating it. It overwrites
// nothing: config.properties here holds only the sizing properties, and
// writing it over a node's own would drop the rest.
func writeTrinoFiles(c *cobra.Command, dir string, files []trinosize.File) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range files {
		path := filepath.Join(dir, f.Name)
		if _, err := os.Lstat(path); err == nil {
			return fmt.Errorf("%s exists: --output-dir writes new files only, as this config.properties holds only the sizing properties (merge them by hand, or choose another directory)", path)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	for _, f := range files {
		path := filepath.Join(dir, f.Name)
		if err := writeNewFile(path, f.Render()); err != nil {
			return err
		}
		fmt.Fprintf(c.OutOrStdout(), "%s: %d settings\n", path, len(f.Entries))
	}
	return nil
}

func writeNewFile(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

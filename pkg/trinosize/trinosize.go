// Package trinosize computes right-sized settings for a Trino 476 node from
// its memory and CPUs: jvm.config, the sizing part of config.properties
// and, for fault-tolerant execution, exchange-manager.properties. Every
// value comes with the rule that produced it, naming its inputs, so a
// reader can check it. The package is pure: no I/O.
package trinosize

import (
	"bytes"
	"strings"
)

// Role is what a Trino node does in its cluster.
type Role string

// The roles.
const (
	Coordinator Role = "coordinator"
	Worker      Role = "worker"
)

// Input describes a node and its cluster.
type Input struct {
	Memory       int64 // the node's physical memory (or container limit), bytes
	Cores        int   // CPUs the node may use
	Role         Role
	Workers      int    // workers in the cluster: required (>= 1) for a coordinator; 0 = unknown for a worker
	WorkerMemory int64  // memory of each worker node; 0 = same as Memory (sizes query.max-memory)
	FTE          bool   // fault-tolerant execution: retry-policy=TASK with the filesystem exchange manager
	Spill        bool   // spill to disk
	ExchangeDir  string // exchange.base-directories (FTE); default DefaultExchangeDir
	SpillDir     string // spiller-spill-path (spill); default DefaultSpillDir
}

// Entry is one setting: a property (Key=Value) or, in jvm.config, a whole
// JVM option in Key with an empty Value. Rule is the one-line reason.
type Entry struct {
	Key   string `json:"key"`
	Value string `json:"value"`
	Rule  string `json:"rule"`
}

// File is one of Trino's configuration files (JVMConfig,
// ConfigProperties, ExchangeManagerProperties).
type File struct {
	Name    string  `json:"name"`
	Entries []Entry `json:"entries"`
}

// Result is what Compute found: the files and notes (warnings that are not
// errors, such as a node too small for production).
type Result struct {
	Files []File   `json:"files"`
	Notes []string `json:"notes"`
}

// File names and defaults.
const (
	JVMConfig                 = "jvm.config"
	ConfigProperties          = "config.properties"
	ExchangeManagerProperties = "exchange-manager.properties"

	DefaultExchangeDir = "/var/trino/exchange"
	DefaultSpillDir    = "/var/trino/spill"

	// MinMemory is the smallest node the calculator sizes.
	MinMemory = 2 * GiB
)

// File returns the file called name, if the result has it.
func (r Result) File(name string) (File, bool) {
	for _, f := range r.Files {
		if f.Name == name {
			return f, true
		}
	}
	return File{}, false
}

// Get returns the value of the entry whose key is exactly key. In
// jvm.config the key is the whole option ("-XX:+UseG1GC") and the value
// empty; Option finds an option by its prefix.
func (f File) Get(key string) (string, bool) {
	for _, e := range f.Entries {
		if e.Key == key {
			return e.Value, true
		}
	}
	return "", false
}

// Option returns the rest of the first key that starts with prefix: in
// jvm.config, Option("-Xmx") is "51G".
func (f File) Option(prefix string) (string, bool) {
	for _, e := range f.Entries {
		if rest, ok := strings.CutPrefix(e.Key, prefix); ok {
			return rest, true
		}
	}
	return "", false
}

// Render writes the file for Trino: each entry preceded by a "# <rule>"
// comment line; properties as key=value, jvm.config one option a line
// (Trino's launcher skips lines starting with #).
func (f File) Render() []byte {
	var b bytes.Buffer
	for _, e := range f.Entries {
		b.WriteString("# ")
		b.WriteString(e.Rule)
		b.WriteByte('\n')
		b.WriteString(e.Key)
		if f.Name != JVMConfig {
			b.WriteByte('=')
			b.WriteString(escapeValue(e.Value))
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// escapeValue escapes what java.util.Properties would read differently:
// backslashes, and leading spaces it would drop.
func escapeValue(v string) string {
	v = strings.ReplaceAll(v, `\`, `\\`)
	if strings.HasPrefix(v, " ") {
		v = `\` + v
	}
	return v
}

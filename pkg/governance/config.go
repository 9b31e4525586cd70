// Package governance is the model of workload governance: the workload
// classes that policy assigns queries to (limits on running and queued
// queries, rates, CPU and scanned-bytes quotas, a queue priority, Trino
// session caps), per user within a class, and caps on how many gateway
// queries each cluster runs. The definitions live in policy data
// (data.switchyard.governance), so they change with the policy: hot
// reload, tests and upload, no restart.
//
// The package is pure: it parses and validates definitions, applies
// session caps to a submission's session properties, and renders Trino's
// resource groups from the same classes. Counting, queueing and quotas are
// the admission pipeline's (pkg/admission) over the shared store
// (store.Governance).
package governance

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/switchyard-gw/switchyard/pkg/trino"
)

// DataPath is where the definitions live in policy data.
const DataPath = "data.switchyard.governance"

// Config is the fleet's workload governance.
type Config struct {
	// DefaultClass takes queries the policy gives no class (empty: such
	// queries are not governed).
	DefaultClass string `json:"defaultClass"`
	// Classes by name.
	Classes map[string]*Class `json:"classes"`
	// Clusters caps the gateway's running queries per cluster.
	Clusters map[string]ClusterLimits `json:"clusters"`
	// Trino shapes the resource groups rendered for the clusters
	// (switchyard trino resource-groups).
	Trino TrinoSettings `json:"trino"`
}

// Limits bound a class as a whole, or each user within it. Zero is no
// limit.
type Limits struct {
	// MaxRunning is how many of its queries run at once across the fleet;
	// more wait in the gateway's queue.
	MaxRunning int `json:"maxRunning"`
	// MaxQueued is how many may wait; one more fails with
	// QUERY_QUEUE_FULL.
	MaxQueued int `json:"maxQueued"`
	// QueriesPerMinute is the rate of submissions taken in (admitted or
	// queued) per clock minute; more fail with QUOTA_EXCEEDED until the
	// minute ends.
	QueriesPerMinute int `json:"queriesPerMinute"`
	// CPUSecondsPerHour is a quota of Trino CPU time per clock hour,
	// charged from completed queries (the event listener's cpuTime).
	CPUSecondsPerHour float64 `json:"cpuSecondsPerHour"`
	// ScannedBytesPerHour is a quota of physical input bytes per clock
	// hour, charged likewise (a number, or a size such as "1TB").
	ScannedBytesPerHour Bytes `json:"scannedBytesPerHour"`
}

// Any reports whether any limit is set.
func (l Limits) Any() bool {
	return l.MaxRunning > 0 || l.MaxQueued > 0 || l.QueriesPerMinute > 0 || l.CPUSecondsPerHour > 0 || l.ScannedBytesPerHour > 0
}

// Class is one workload class.
type Class struct {
	// Name is the class's key in Classes.
	Name        string `json:"-"`
	Description string `json:"description"`
	// Priority orders the queue between classes: higher first (0-100,
	// default 0). Within a class, users take turns.
	Priority int `json:"priority"`
	// The class's own limits, across all its users.
	Limits
	// PerUser limits each user within the class.
	PerUser Limits `json:"perUser"`
	// SessionCaps are Trino session properties set on every submission of
	// the class; a value the client set higher is lowered, never raised.
	SessionCaps map[string]string `json:"sessionCaps"`
	// AllowResourceOvercommit lets the class's queries set
	// resource_overcommit, which bypasses Trino's memory limits (refused
	// by default).
	AllowResourceOvercommit bool `json:"allowResourceOvercommit"`
	// OnStoreFailure is what happens to the class's submissions when the
	// shared store cannot be reached: "open" (default: admitted, not
	// counted) or "closed" (refused with GATEWAY_UNAVAILABLE).
	OnStoreFailure string `json:"onStoreFailure"`
	// Trino shapes the class's resource group inside each cluster.
	Trino ResourceGroup `json:"trino"`
}

// Governed reports whether the gateway counts the class's queries (it has
// a limit, or a quota).
func (c *Class) Governed() bool { return c.Limits.Any() || c.PerUser.Any() }

// FailClosed reports whether the class refuses queries when the store
// fails.
func (c *Class) FailClosed() bool { return c.OnStoreFailure == FailClosed }

// Store failure modes.
const (
	FailOpen   = "open"
	FailClosed = "closed"
)

// ClusterLimits caps one cluster.
type ClusterLimits struct {
	// MaxRunning is how many gateway queries the cluster runs at once;
	// more wait in the queue (or go to another cluster of the group with
	// room).
	MaxRunning int `json:"maxRunning"`
}

// Bytes is a byte count written as a number or a Trino data size ("1TB").
type Bytes int64

// UnmarshalJSON accepts a non-negative integer or a data size string.
func (b *Bytes) UnmarshalJSON(d []byte) error {
	d = bytes.TrimSpace(d)
	if len(d) > 0 && d[0] == '"' {
		var s string
		if err := json.Unmarshal(d, &s); err != nil {
			return err
		}
		n, err := trino.ParseDataSize(s)
		if err != nil {
			return err
		}
		*b = Bytes(n)
		return nil
	}
	f, err := strconv.ParseFloat(string(d), 64)
	if err != nil || f != float64(int64(f)) {
		return fmt.Errorf("want a whole number of bytes or a size such as \"1TB\", got %.40s", d)
	}
	*b = Bytes(f)
	return nil
}

var classNameRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)

// ClientTagPrefix starts the client tag the gateway adds to a governed
// submission ("switchyard-class=etl"), which Trino's resource group
// selectors match.
const ClientTagPrefix = "switchyard-class="

// ClientTag is the client tag that names class c.
func ClientTag(class string) string { return ClientTagPrefix + class }

// Parse reads and validates the definitions from policy data (the value
// at data.switchyard.governance: a JSON-like document). Unknown fields
// are errors; every message names the field.
func Parse(v any) (*Config, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", DataPath, err)
	}
	return ParseJSON(b)
}

// ParseJSON is Parse of a JSON document.
func ParseJSON(b []byte) (*Config, error) {
	var raw struct {
		DefaultClass string                     `json:"defaultClass"`
		Classes      map[string]json.RawMessage `json:"classes"`
		Clusters     map[string]json.RawMessage `json:"clusters"`
		Trino        json.RawMessage            `json:"trino"`
	}
	if err := strict(b, &raw); err != nil {
		return nil, fieldError(DataPath, err)
	}
	c := &Config{DefaultClass: raw.DefaultClass, Classes: map[string]*Class{}, Clusters: map[string]ClusterLimits{}}
	var errs []error
	for _, name := range sortedKeys(raw.Classes) {
		path := DataPath + ".classes." + name
		cl := &Class{}
		if err := strict(raw.Classes[name], cl); err != nil {
			errs = append(errs, fieldError(path, err))
			continue
		}
		cl.Name = name
		c.Classes[name] = cl
	}
	for _, name := range sortedKeys(raw.Clusters) {
		var cl ClusterLimits
		if err := strict(raw.Clusters[name], &cl); err != nil {
			errs = append(errs, fieldError(DataPath+".clusters."+name, err))
			continue
		}
		c.Clusters[name] = cl
	}
	if len(raw.Trino) > 0 {
		if err := strict(raw.Trino, &c.Trino); err != nil {
			errs = append(errs, fieldError(DataPath+".trino", err))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// strict decodes one JSON value, refusing unknown fields and trailing
// data.
func strict(b []byte, v any) error {
	if len(bytes.TrimSpace(b)) == 0 || string(bytes.TrimSpace(b)) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("unexpected data after the value")
	}
	return nil
}

// fieldError names the field of a decoding error.
func fieldError(path string, err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field != "" {
			return fmt.Errorf("%s.%s: want %s, got %s", path, te.Field, te.Type, te.Value)
		}
		return fmt.Errorf("%s: want an object, got %s", path, te.Value)
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	return fmt.Errorf("%s: %s", path, msg)
}

// Validate checks the definitions; every message names the field.
func (c *Config) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if c.DefaultClass != "" {
		if _, ok := c.Classes[c.DefaultClass]; !ok {
			add(DataPath+".defaultClass", "class %q is not defined (classes: %s)", c.DefaultClass, strings.Join(c.ClassNames(), ", "))
		}
	}
	for _, name := range c.ClassNames() {
		cl := c.Classes[name]
		path := DataPath + ".classes." + name
		if !classNameRE.MatchString(name) {
			add(path, "a class name is 1-63 lowercase letters, digits, '_' and '-', starting with a letter")
		}
		if cl.Priority < 0 || cl.Priority > 100 {
			add(path+".priority", "must be 0-100, got %d", cl.Priority)
		}
		validateLimits(path, cl.Limits, add)
		validateLimits(path+".perUser", cl.PerUser, add)
		for _, f := range []struct {
			name       string
			user, mine int
		}{{"maxRunning", cl.PerUser.MaxRunning, cl.MaxRunning}, {"maxQueued", cl.PerUser.MaxQueued, cl.MaxQueued}, {"queriesPerMinute", cl.PerUser.QueriesPerMinute, cl.QueriesPerMinute}} {
			if f.user > 0 && f.mine > 0 && f.user > f.mine {
				add(path+".perUser."+f.name, "%d is more than the class's own %s (%d)", f.user, f.name, f.mine)
			}
		}
		switch cl.OnStoreFailure {
		case "":
			cl.OnStoreFailure = FailOpen
		case FailOpen, FailClosed:
		default:
			add(path+".onStoreFailure", "must be %q or %q, got %q", FailOpen, FailClosed, cl.OnStoreFailure)
		}
		for _, p := range sortedKeys(cl.SessionCaps) {
			if err := validateCap(p, cl.SessionCaps[p]); err != nil {
				add(path+".sessionCaps."+p, "%v", err)
			}
		}
		if err := cl.Trino.validate(path+".trino", cl); err != nil {
			errs = append(errs, err)
		}
	}
	for _, name := range sortedKeys(c.Clusters) {
		if c.Clusters[name].MaxRunning < 0 {
			add(DataPath+".clusters."+name+".maxRunning", "must be 0 (no cap) or more, got %d", c.Clusters[name].MaxRunning)
		}
	}
	if err := c.Trino.validate(DataPath + ".trino"); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		// What needs the classes and the trino blocks together (the
		// catch-all group's name, the root queue's size).
		if err := c.validateResourceGroups(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func validateLimits(path string, l Limits, add func(field, format string, args ...any)) {
	for _, f := range []struct {
		name string
		v    float64
	}{{"maxRunning", float64(l.MaxRunning)}, {"maxQueued", float64(l.MaxQueued)}, {"queriesPerMinute", float64(l.QueriesPerMinute)},
		{"cpuSecondsPerHour", l.CPUSecondsPerHour}, {"scannedBytesPerHour", float64(l.ScannedBytesPerHour)}} {
		if f.v < 0 {
			add(path+"."+f.name, "must be 0 (no limit) or more, got %v", f.v)
		}
	}
}

// ClassNames lists the classes in order.
func (c *Config) ClassNames() []string { return sortedKeys(c.Classes) }

// Class returns the class a decision names ("" is the default class). A
// nil class with no error means the query is not governed.
func (c *Config) Class(name string) (*Class, error) {
	if c == nil {
		return nil, nil
	}
	if name == "" {
		name = c.DefaultClass
		if name == "" {
			return nil, nil
		}
	}
	cl, ok := c.Classes[name]
	if !ok {
		return nil, fmt.Errorf("the policy chose workload class %q, which %s.classes does not define (classes: %s)", name, DataPath, strings.Join(c.ClassNames(), ", "))
	}
	return cl, nil
}

// ClusterCap is the gateway's cap on a cluster's running queries (0: none).
func (c *Config) ClusterCap(cluster string) int {
	if c == nil {
		return 0
	}
	return c.Clusters[cluster].MaxRunning
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

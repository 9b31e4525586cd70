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
	"time"

	"github.com/switchyard-gw/switchyard/pkg/trino"
)

// One definition, both layers: the gateway bounds how many queries of a
// class run and queue across the fleet, and how fast they come; Trino's
// resource groups, rendered here from the same classes, bound memory and
// CPU inside each cluster and share a saturated cluster between classes by
// priority.
//
// The rendered tree (Trino's file resource group manager, 476):
//
//	switchyard                 root: weighted_fair between its subgroups
//	├── <class>                one group a class, weight from its priority
//	│   └── ${USER}            one group a user, when the class has them
//	└── unclassified           queries without a class tag
//
// A selector on the client tag the gateway adds (switchyard-class=<class>)
// puts each class's queries in its group; a last selector without
// conditions puts everything else (queries sent to Trino directly, or not
// governed) in the unclassified group.

// Defaults of the rendered groups.
const (
	// DefaultRootGroup names the group that holds every other group.
	DefaultRootGroup = "switchyard"
	// DefaultUnclassifiedGroup names the group of queries without a class
	// tag.
	DefaultUnclassifiedGroup = "unclassified"
	// NoConcurrencyLimit is the hardConcurrencyLimit of a group with no
	// limit (Trino requires one): more than a coordinator runs at once.
	NoConcurrencyLimit = 1000
	// MinMaxQueued is the least maxQueued of a group. The gateway queues;
	// Trino's queue is only a safety net, and must never fail a query the
	// gateway admitted.
	MinMaxQueued = 1000
	// DefaultCPUQuotaPeriod is the period of CPU limits when the policy
	// names none: an hour, as the gateway's cpuSecondsPerHour.
	DefaultCPUQuotaPeriod = "1h"
	// UserGroupName is the name template of a per-user subgroup.
	UserGroupName = "${USER}"
)

// Trino's scheduling policies: how a group picks the subgroup that starts
// its next query, and the next of its queued queries.
const (
	// SchedulingFair is first in, first out; subgroups take turns.
	SchedulingFair = "fair"
	// SchedulingWeighted picks subgroups at random in proportion to their
	// schedulingWeight, and queries by their query_priority.
	SchedulingWeighted = "weighted"
	// SchedulingWeightedFair starts the next query in the subgroup that
	// runs the fewest relative to its schedulingWeight.
	SchedulingWeightedFair = "weighted_fair"
	// SchedulingQueryPriority orders queries by their query_priority
	// session property; every group below it must use it too.
	SchedulingQueryPriority = "query_priority"
)

var schedulingPolicies = []string{SchedulingFair, SchedulingWeighted, SchedulingWeightedFair, SchedulingQueryPriority}

// GroupLimits are the limits of one Trino resource group, as each group of
// the policy's trino blocks writes them (the fields are repeated in each
// block rather than embedded, so that a decoding error names the field as
// written). Zero or empty is the default, derived from the gateway's
// limits where it can be.
type GroupLimits struct {
	// SoftMemoryLimit is how much of the cluster's memory the group's
	// queries may use before its new queries queue: a share ("40%") or a
	// size ("10GB"). Default 100%.
	SoftMemoryLimit string
	// HardConcurrencyLimit is how many of the group's queries run at once
	// in a cluster; more queue in Trino.
	HardConcurrencyLimit int
	// SoftConcurrencyLimit is how many run before the group yields the
	// next start to sibling groups below theirs (default: the hard limit).
	SoftConcurrencyLimit int
	// MaxQueued is how many may wait in Trino; one more fails with
	// QUERY_QUEUE_FULL.
	MaxQueued int
	// SoftCPULimit is the CPU time a period (cpuQuotaPeriod) after which
	// the group runs fewer queries at once; it needs HardCPULimit.
	SoftCPULimit string
	// HardCPULimit is the CPU time a period after which the group's new
	// queries queue until the quota refills.
	HardCPULimit string
}

// ResourceGroup shapes a class's resource group inside each Trino cluster
// (rendered by `switchyard trino resource-groups`). The limits are
// GroupLimits'; hardConcurrencyLimit defaults to the class's maxRunning,
// maxQueued to enough never to fail a query the gateway admitted.
type ResourceGroup struct {
	SoftMemoryLimit      string `json:"softMemoryLimit"`
	HardConcurrencyLimit int    `json:"hardConcurrencyLimit"`
	SoftConcurrencyLimit int    `json:"softConcurrencyLimit"`
	MaxQueued            int    `json:"maxQueued"`
	SoftCPULimit         string `json:"softCpuLimit"`
	HardCPULimit         string `json:"hardCpuLimit"`
	// SchedulingWeight is the class's share of a saturated cluster against
	// the other classes (default: priority + 1).
	SchedulingWeight int `json:"schedulingWeight"`
	// SchedulingPolicy is how the class's users (or its queued queries)
	// take turns: fair (default), weighted, weighted_fair or
	// query_priority.
	SchedulingPolicy string `json:"schedulingPolicy"`
	// PerUser shapes a subgroup for each user of the class (${USER}).
	// Without it, the class has them when it has per-user limits.
	PerUser *UserGroups `json:"perUser"`
}

// Limits are the class group's limits as set.
func (g ResourceGroup) Limits() GroupLimits {
	return GroupLimits{g.SoftMemoryLimit, g.HardConcurrencyLimit, g.SoftConcurrencyLimit, g.MaxQueued, g.SoftCPULimit, g.HardCPULimit}
}

// UserGroups shape the per-user subgroups of a class. The limits are
// GroupLimits'; hardConcurrencyLimit defaults to the class's
// perUser.maxRunning.
type UserGroups struct {
	// Enabled turns the subgroups on or off (default on when the block is
	// given).
	Enabled              *bool  `json:"enabled"`
	SoftMemoryLimit      string `json:"softMemoryLimit"`
	HardConcurrencyLimit int    `json:"hardConcurrencyLimit"`
	SoftConcurrencyLimit int    `json:"softConcurrencyLimit"`
	MaxQueued            int    `json:"maxQueued"`
	SoftCPULimit         string `json:"softCpuLimit"`
	HardCPULimit         string `json:"hardCpuLimit"`
}

// Limits are each user's limits as set.
func (u *UserGroups) Limits() GroupLimits {
	if u == nil {
		return GroupLimits{}
	}
	return GroupLimits{u.SoftMemoryLimit, u.HardConcurrencyLimit, u.SoftConcurrencyLimit, u.MaxQueued, u.SoftCPULimit, u.HardCPULimit}
}

// TrinoSettings shape the rendered resource groups as a whole.
type TrinoSettings struct {
	// CPUQuotaPeriod is the period of the groups' CPU limits (default 1h).
	CPUQuotaPeriod string `json:"cpuQuotaPeriod"`
	// Root is the group that holds the classes' groups.
	Root RootGroup `json:"root"`
	// Unclassified is the group of queries without a class tag: sent to
	// Trino directly, or through the gateway without a class.
	Unclassified UnclassifiedGroup `json:"unclassified"`
}

// RootGroup is the group that holds every other group: the cluster's
// limits for all of them together. The limits are GroupLimits';
// hardConcurrencyLimit defaults to none, maxQueued to the sum of its
// subgroups'.
type RootGroup struct {
	// Name defaults to "switchyard".
	Name string `json:"name"`
	// SchedulingPolicy shares a saturated cluster between the classes:
	// weighted_fair (default) or weighted. The others would ignore the
	// weights that carry the classes' priorities.
	SchedulingPolicy     string `json:"schedulingPolicy"`
	SoftMemoryLimit      string `json:"softMemoryLimit"`
	HardConcurrencyLimit int    `json:"hardConcurrencyLimit"`
	SoftConcurrencyLimit int    `json:"softConcurrencyLimit"`
	MaxQueued            int    `json:"maxQueued"`
	SoftCPULimit         string `json:"softCpuLimit"`
	HardCPULimit         string `json:"hardCpuLimit"`
}

// Limits are the root's limits as set.
func (r RootGroup) Limits() GroupLimits {
	return GroupLimits{r.SoftMemoryLimit, r.HardConcurrencyLimit, r.SoftConcurrencyLimit, r.MaxQueued, r.SoftCPULimit, r.HardCPULimit}
}

// UnclassifiedGroup is the group of queries without a class tag. The
// limits are GroupLimits' (default: none).
type UnclassifiedGroup struct {
	// Name defaults to "unclassified"; it must not be a class's.
	Name string `json:"name"`
	// SchedulingWeight is its share against the classes (default 1, as a
	// class of priority 0).
	SchedulingWeight     int    `json:"schedulingWeight"`
	SoftMemoryLimit      string `json:"softMemoryLimit"`
	HardConcurrencyLimit int    `json:"hardConcurrencyLimit"`
	SoftConcurrencyLimit int    `json:"softConcurrencyLimit"`
	MaxQueued            int    `json:"maxQueued"`
	SoftCPULimit         string `json:"softCpuLimit"`
	HardCPULimit         string `json:"hardCpuLimit"`
}

// Limits are the unclassified group's limits as set.
func (u UnclassifiedGroup) Limits() GroupLimits {
	return GroupLimits{u.SoftMemoryLimit, u.HardConcurrencyLimit, u.SoftConcurrencyLimit, u.MaxQueued, u.SoftCPULimit, u.HardCPULimit}
}

// validate checks a class's trino block against the class's gateway
// limits.
func (g ResourceGroup) validate(path string, c *Class) error {
	v := &checker{}
	hard := g.effectiveHard(c)
	v.limits(path, g.Limits(), hard)
	if g.HardConcurrencyLimit > 0 && c.MaxRunning > 0 && g.HardConcurrencyLimit > c.MaxRunning {
		v.add(path+".hardConcurrencyLimit", "%d is more than the class's maxRunning (%d): the gateway never runs more than that across the fleet, so no cluster can", g.HardConcurrencyLimit, c.MaxRunning)
	}
	v.queue(path, g.MaxQueued, hard, c.MaxRunning, "class's maxRunning")
	if g.SchedulingWeight < 0 {
		v.add(path+".schedulingWeight", "must be 0 (from the priority) or more, got %d", g.SchedulingWeight)
	}
	v.policy(path+".schedulingPolicy", g.SchedulingPolicy, schedulingPolicies)
	if u := g.PerUser; u != nil {
		upath := path + ".perUser"
		if u.Enabled != nil && !*u.Enabled {
			if u.Limits() != (GroupLimits{}) {
				v.add(upath, "sets limits but enabled is false: remove them or enable the per-user groups")
			}
		} else {
			uhard := g.userHard(c, hard)
			v.limits(upath, u.Limits(), uhard)
			if u.HardConcurrencyLimit > 0 {
				switch {
				case c.PerUser.MaxRunning > 0 && u.HardConcurrencyLimit > c.PerUser.MaxRunning:
					v.add(upath+".hardConcurrencyLimit", "%d is more than the class's perUser.maxRunning (%d): the gateway never runs more than that for a user", u.HardConcurrencyLimit, c.PerUser.MaxRunning)
				case u.HardConcurrencyLimit > hard:
					v.add(upath+".hardConcurrencyLimit", "%d is more than the class group's hardConcurrencyLimit (%d)", u.HardConcurrencyLimit, hard)
				}
			}
			admitted, what := c.PerUser.MaxRunning, "class's perUser.maxRunning"
			if admitted == 0 {
				admitted, what = c.MaxRunning, "class's maxRunning"
			}
			v.queue(upath, u.MaxQueued, uhard, admitted, what)
		}
	}
	return v.err()
}

// validate checks the trino block of the definitions.
func (t TrinoSettings) validate(path string) error {
	v := &checker{}
	if t.CPUQuotaPeriod != "" {
		v.duration(path+".cpuQuotaPeriod", t.CPUQuotaPeriod)
	}
	rpath := path + ".root"
	v.name(rpath+".name", t.Root.Name)
	v.policy(rpath+".schedulingPolicy", t.Root.SchedulingPolicy, []string{SchedulingWeightedFair, SchedulingWeighted})
	v.limits(rpath, t.Root.Limits(), orDefault(t.Root.HardConcurrencyLimit, NoConcurrencyLimit))
	upath := path + ".unclassified"
	v.name(upath+".name", t.Unclassified.Name)
	if t.Unclassified.SchedulingWeight < 0 {
		v.add(upath+".schedulingWeight", "must be 0 (the default, 1) or more, got %d", t.Unclassified.SchedulingWeight)
	}
	v.limits(upath, t.Unclassified.Limits(), orDefault(t.Unclassified.HardConcurrencyLimit, NoConcurrencyLimit))
	return v.err()
}

// validateResourceGroups checks what the blocks cannot check alone: the
// unclassified group is a sibling of the classes' groups, and the root
// holds every class's queries.
func (c *Config) validateResourceGroups() error {
	v := &checker{}
	name := c.Trino.Unclassified.name()
	if _, ok := c.Classes[name]; ok {
		v.add(DataPath+".trino.unclassified.name", "%q is also a class: the groups would collide; name the unclassified group differently", name)
	}
	admitted := 0
	for _, cl := range c.Classes {
		admitted += cl.MaxRunning
	}
	root := c.Trino.Root
	v.queue(DataPath+".trino.root", root.MaxQueued, orDefault(root.HardConcurrencyLimit, NoConcurrencyLimit), admitted, "classes' maxRunning together")
	return v.err()
}

// checker collects validation errors, each naming its field.
type checker struct{ errs []error }

func (v *checker) add(field, format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
}

func (v *checker) err() error { return errors.Join(v.errs...) }

// limits checks one group's limits; hard is its effective
// hardConcurrencyLimit.
func (v *checker) limits(path string, l GroupLimits, hard int) {
	if l.SoftMemoryLimit != "" {
		if _, err := memoryLimit(l.SoftMemoryLimit); err != nil {
			v.add(path+".softMemoryLimit", "%v", err)
		}
	}
	for _, f := range []struct {
		name string
		n    int
	}{{"hardConcurrencyLimit", l.HardConcurrencyLimit}, {"softConcurrencyLimit", l.SoftConcurrencyLimit}, {"maxQueued", l.MaxQueued}} {
		if f.n < 0 {
			v.add(path+"."+f.name, "must be 0 (the default) or more, got %d", f.n)
		}
	}
	if l.SoftConcurrencyLimit > 0 && l.SoftConcurrencyLimit > hard {
		v.add(path+".softConcurrencyLimit", "%d is more than the hardConcurrencyLimit (%d)", l.SoftConcurrencyLimit, hard)
	}
	var soft, hardCPU time.Duration
	if l.SoftCPULimit != "" {
		soft = v.duration(path+".softCpuLimit", l.SoftCPULimit)
		if l.HardCPULimit == "" {
			v.add(path+".softCpuLimit", "needs a hardCpuLimit too (Trino refuses a soft CPU limit alone)")
		}
	}
	if l.HardCPULimit != "" {
		hardCPU = v.duration(path+".hardCpuLimit", l.HardCPULimit)
	}
	if soft > 0 && hardCPU > 0 && soft > hardCPU {
		v.add(path+".softCpuLimit", "%s is more than the hardCpuLimit (%s)", l.SoftCPULimit, l.HardCPULimit)
	}
}

// queue checks that a group's maxQueued cannot fail a query the gateway
// admitted: a cluster holds at most `admitted` of them (the gateway's
// limit across the fleet), hard of which run.
func (v *checker) queue(path string, maxQueued, hard, admitted int, what string) {
	if maxQueued > 0 && admitted > 0 && maxQueued+hard < admitted {
		v.add(path+".maxQueued", "%d could fail queries the gateway admitted: the %s let %d into one cluster, %d run (hardConcurrencyLimit), so want at least %d (or 0, the default)",
			maxQueued, what, admitted, hard, admitted-hard)
	}
}

func (v *checker) duration(field, s string) time.Duration {
	d, err := trino.ParseDuration(s)
	switch {
	case err != nil:
		v.add(field, "%v", err)
	case d <= 0:
		v.add(field, "must be more than 0, got %q", s)
	}
	return d
}

func (v *checker) policy(field, p string, allowed []string) {
	if p == "" {
		return
	}
	for _, a := range allowed {
		if p == a {
			return
		}
	}
	v.add(field, "must be one of %s, got %q", strings.Join(allowed, ", "), p)
}

// name checks a group name as Trino's file manager does (no template
// variables here).
func (v *checker) name(field, n string) {
	if n == "" {
		return
	}
	if strings.TrimSpace(n) == "" || strings.ContainsAny(n, ".${}") {
		v.add(field, "a group name must not be blank nor contain '.', '$', '{' or '}', got %q", n)
	}
}

var percentRE = regexp.MustCompile(`^(\d{1,3}(\.\d+)?)%$`)

// memoryLimit reads a softMemoryLimit and writes it as Trino reads it: a
// share of the cluster's memory, or a size in whole units.
func memoryLimit(s string) (string, error) {
	s = strings.TrimSpace(s)
	if m := percentRE.FindStringSubmatch(s); m != nil {
		f, _ := strconv.ParseFloat(m[1], 64)
		if f <= 0 || f > 100 {
			return "", fmt.Errorf("a share of the cluster's memory must be more than 0%% and at most 100%%, got %q", s)
		}
		return s, nil
	}
	if strings.HasSuffix(s, "%") {
		return "", fmt.Errorf("want a share such as \"40%%\" or a size such as \"10GB\", got %q", s)
	}
	n, err := trino.ParseDataSize(s)
	if err != nil {
		return "", fmt.Errorf("want a share such as \"40%%\" or a size such as \"10GB\": %v", err)
	}
	if n <= 0 {
		return "", fmt.Errorf("must be more than 0, got %q", s)
	}
	return trino.FormatDataSize(n), nil
}

// effectiveHard is the class group's hardConcurrencyLimit: the class's
// maxRunning by default. The gateway already bounds the class across the
// fleet, so one cluster can only run as many or fewer.
func (g ResourceGroup) effectiveHard(c *Class) int {
	if g.HardConcurrencyLimit > 0 {
		return g.HardConcurrencyLimit
	}
	return orDefault(c.MaxRunning, NoConcurrencyLimit)
}

// userHard is the per-user subgroups' hardConcurrencyLimit: the class's
// perUser.maxRunning by default, else the class group's.
func (g ResourceGroup) userHard(c *Class, classHard int) int {
	if g.PerUser != nil && g.PerUser.HardConcurrencyLimit > 0 {
		return g.PerUser.HardConcurrencyLimit
	}
	if c.PerUser.MaxRunning > 0 {
		return c.PerUser.MaxRunning
	}
	return classHard
}

// perUser reports whether the class has per-user subgroups: as its
// perUser block says, else when the gateway limits its users.
func (g ResourceGroup) perUser(c *Class) bool {
	if g.PerUser != nil {
		return g.PerUser.Enabled == nil || *g.PerUser.Enabled
	}
	return c.PerUser.Any()
}

func (u UnclassifiedGroup) name() string {
	if u.Name == "" {
		return DefaultUnclassifiedGroup
	}
	return u.Name
}

func orDefault(n, def int) int {
	if n > 0 {
		return n
	}
	return def
}

// The JSON of Trino's file resource group manager (476: ManagerSpec,
// ResourceGroupSpec, SelectorSpec). Field order is the output's.
type (
	rgManager struct {
		RootGroups     []*rgGroup   `json:"rootGroups"`
		Selectors      []rgSelector `json:"selectors"`
		CPUQuotaPeriod string       `json:"cpuQuotaPeriod,omitempty"`
	}
	rgGroup struct {
		Name                 string     `json:"name"`
		SoftMemoryLimit      string     `json:"softMemoryLimit"`
		HardConcurrencyLimit int        `json:"hardConcurrencyLimit"`
		SoftConcurrencyLimit int        `json:"softConcurrencyLimit,omitempty"`
		MaxQueued            int        `json:"maxQueued"`
		SchedulingPolicy     string     `json:"schedulingPolicy,omitempty"`
		SchedulingWeight     int        `json:"schedulingWeight,omitempty"`
		SoftCPULimit         string     `json:"softCpuLimit,omitempty"`
		HardCPULimit         string     `json:"hardCpuLimit,omitempty"`
		SubGroups            []*rgGroup `json:"subGroups,omitempty"`
	}
	rgSelector struct {
		ClientTags []string `json:"clientTags,omitempty"`
		Group      string   `json:"group"`
	}
)

// RenderResourceGroups renders Trino's resource-groups.json (the file
// resource group manager's) from the classes: one group a class under a
// common root, per-user subgroups where the class has them, a selector on
// each class's client tag in priority order, and a last selector that
// puts every other query in the unclassified group. The output is stable
// (indented by two spaces, classes in priority then name order) so it can
// be diffed.
func RenderResourceGroups(c *Config) ([]byte, error) {
	if c == nil {
		return nil, errors.New("no workload governance to render resource groups from")
	}
	if err := c.validateResourceGroups(); err != nil {
		return nil, err
	}
	t := c.Trino
	root := &rgGroup{
		Name:             orString(t.Root.Name, DefaultRootGroup),
		SchedulingPolicy: orString(t.Root.SchedulingPolicy, SchedulingWeightedFair),
	}
	root.limits(t.Root.Limits(), NoConcurrencyLimit, 0)
	m := &rgManager{RootGroups: []*rgGroup{root}}
	for _, name := range classesByPriority(c) {
		cl := c.Classes[name]
		g := cl.Trino
		hard := g.effectiveHard(cl)
		group := &rgGroup{
			Name:             name,
			SchedulingPolicy: orString(g.SchedulingPolicy, SchedulingFair),
			SchedulingWeight: orDefault(g.SchedulingWeight, cl.Priority+1),
		}
		group.limits(g.Limits(), hard, cl.MaxRunning)
		target := root.Name + "." + name
		if g.perUser(cl) {
			user := &rgGroup{Name: UserGroupName}
			user.limits(g.PerUser.Limits(), g.userHard(cl, hard), orDefault(cl.PerUser.MaxRunning, cl.MaxRunning))
			if group.SchedulingPolicy == SchedulingQueryPriority {
				// Trino: every group below a query_priority group uses it too.
				user.SchedulingPolicy = SchedulingQueryPriority
			}
			group.SubGroups = []*rgGroup{user}
			target += "." + UserGroupName
		}
		root.SubGroups = append(root.SubGroups, group)
		m.Selectors = append(m.Selectors, rgSelector{ClientTags: []string{ClientTag(name)}, Group: target})
	}
	u := t.Unclassified
	other := &rgGroup{Name: u.name(), SchedulingWeight: orDefault(u.SchedulingWeight, 1)}
	other.limits(u.Limits(), NoConcurrencyLimit, 0)
	root.SubGroups = append(root.SubGroups, other)
	m.Selectors = append(m.Selectors, rgSelector{Group: root.Name + "." + other.Name})

	// The root queues as many as its subgroups together, so that it is
	// never the group that refuses a query.
	if t.Root.MaxQueued == 0 {
		root.MaxQueued = 0
		for _, g := range root.SubGroups {
			root.MaxQueued += g.MaxQueued
		}
	}
	m.CPUQuotaPeriod = t.CPUQuotaPeriod
	if m.CPUQuotaPeriod == "" && hasCPULimits(root) {
		m.CPUQuotaPeriod = DefaultCPUQuotaPeriod
	}
	if m.CPUQuotaPeriod != "" {
		d, err := trino.ParseDuration(m.CPUQuotaPeriod)
		if err != nil {
			return nil, fmt.Errorf("%s.trino.cpuQuotaPeriod: %v", DataPath, err)
		}
		m.CPUQuotaPeriod = trino.FormatDuration(d)
	}

	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// limits fills a rendered group's limits: hard is its hardConcurrencyLimit
// unless set, admitted how many queries of it the gateway lets into one
// cluster at most (0: not bounded).
func (r *rgGroup) limits(l GroupLimits, hard, admitted int) {
	r.SoftMemoryLimit = "100%"
	if l.SoftMemoryLimit != "" {
		r.SoftMemoryLimit, _ = memoryLimit(l.SoftMemoryLimit) // validated when the policy loaded
	}
	r.HardConcurrencyLimit = orDefault(l.HardConcurrencyLimit, hard)
	r.SoftConcurrencyLimit = l.SoftConcurrencyLimit
	r.MaxQueued = orDefault(l.MaxQueued, max(MinMaxQueued, admitted))
	r.SoftCPULimit = normDuration(l.SoftCPULimit)
	r.HardCPULimit = normDuration(l.HardCPULimit)
}

func normDuration(s string) string {
	if s == "" {
		return ""
	}
	d, err := trino.ParseDuration(s)
	if err != nil {
		return s // validated when the policy loaded
	}
	return trino.FormatDuration(d)
}

func hasCPULimits(g *rgGroup) bool {
	if g.SoftCPULimit != "" || g.HardCPULimit != "" {
		return true
	}
	for _, s := range g.SubGroups {
		if hasCPULimits(s) {
			return true
		}
	}
	return false
}

// classesByPriority lists the class names, higher priority first, then
// by name.
func classesByPriority(c *Config) []string {
	names := c.ClassNames()
	sort.SliceStable(names, func(i, j int) bool { return c.Classes[names[i]].Priority > c.Classes[names[j]].Priority })
	return names
}

func orString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

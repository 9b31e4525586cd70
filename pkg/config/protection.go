package config

import (
	"fmt"
	"net/url"
	"os"
	"time"
)

// Protection configures query protection (docs/protection.md): the
// findings every submission's policy input carries, where table metadata
// comes from, the memory of queries that blew up, and the runtime
// watchdog. The rules themselves are policy: data.switchyard.protection
// and data.switchyard.watchdog in the policy bundle.
type Protection struct {
	// Metadata configures the table metadata sources besides the policy's
	// own data.switchyard.tables.
	Metadata Metadata `yaml:"metadata"`
	// IncidentTTL is how long a failure (or a watchdog kill) of a query
	// is remembered for its fingerprint (default 24h).
	IncidentTTL time.Duration `yaml:"incidentTTL"`
	// IncidentCacheTTL is how long a replica answers submissions from
	// what it last read of a fingerprint's incidents (default 1s; 0: read
	// the store on every submission). What the replica itself records is
	// seen at once; what another replica records, within this long.
	IncidentCacheTTL time.Duration `yaml:"incidentCacheTTL"`
	// IncidentErrors are the Trino error names that record an incident
	// (default: the memory, time, CPU and scan limits and
	// CLUSTER_OUT_OF_MEMORY).
	IncidentErrors []string `yaml:"incidentErrors"`
	// Watchdog polls the running queries.
	Watchdog Watchdog `yaml:"watchdog"`
}

// Metadata configures where table sizes, tags and owners come from.
type Metadata struct {
	// TTL is how long an answer is cached (default 10m).
	TTL time.Duration `yaml:"ttl"`
	// Timeout bounds each source's answer on a submission (default
	// 300ms): a slow or failing source never holds a query longer.
	Timeout time.Duration `yaml:"timeout"`
	// Trino asks a designated cluster (SHOW STATS) for row counts and
	// sizes.
	Trino *TrinoMetadata `yaml:"trino"`
	// OpenMetadata asks a metadata catalog for tags and owners.
	OpenMetadata *OpenMetadata `yaml:"openMetadata"`
	// SizeClasses are the thresholds of the size classes policy reads.
	SizeClasses SizeClasses `yaml:"sizeClasses"`
}

// TrinoMetadata is the cluster SHOW STATS runs on.
type TrinoMetadata struct {
	Cluster string `yaml:"cluster"`
	// User runs SHOW STATS (default "switchyard"); it needs SHOW STATS on
	// the tables (their SELECT, in Trino's access control).
	User string `yaml:"user"`
}

// OpenMetadata is a metadata catalog with OpenMetadata's REST API.
type OpenMetadata struct {
	// URL is the server's base URL (http://host:8585).
	URL string `yaml:"url"`
	// TokenEnv names the environment variable holding a bot's JWT
	// (sent as a bearer token); empty: no token.
	TokenEnv string `yaml:"tokenEnv"`
	Token    string `yaml:"-"`
	// Services maps a Trino catalog to the OpenMetadata service that
	// holds its tables (default: the catalog's name).
	Services map[string]string `yaml:"services"`
	// Databases maps a Trino catalog to its OpenMetadata database
	// (default: the catalog's name, as OpenMetadata's Trino connector
	// names it).
	Databases map[string]string `yaml:"databases"`
	// OwnerField is "owners" (OpenMetadata 1.5 and later, the default) or
	// "owner" (earlier versions).
	OwnerField string `yaml:"ownerField"`
	// Profile also reads the latest table profile (row count, size) when
	// the profiler ran.
	Profile bool `yaml:"profile"`
}

// SizeClasses are the thresholds of the size classes (small, medium,
// large, huge): a table is in the largest class whose rows or bytes
// threshold it reaches.
type SizeClasses struct {
	MediumRows  int64 `yaml:"mediumRows"`  // default 100,000
	LargeRows   int64 `yaml:"largeRows"`   // default 10,000,000
	HugeRows    int64 `yaml:"hugeRows"`    // default 1,000,000,000
	MediumBytes int64 `yaml:"mediumBytes"` // default 100 MiB
	LargeBytes  int64 `yaml:"largeBytes"`  // default 1 GiB
	HugeBytes   int64 `yaml:"hugeBytes"`   // default 100 GiB
}

// Watchdog configures the runtime watchdog.
type Watchdog struct {
	// Enabled starts it (with a policy that defines
	// data.switchyard.watchdog.decision).
	Enabled bool `yaml:"enabled"`
	// Interval between polls of each cluster's running queries (default
	// 5s, at least 500ms).
	Interval time.Duration `yaml:"interval"`
	// DetailAfter: queries running longer get their stage and task
	// statistics read (GET /v1/query/{id}) for the skew rules (default
	// 10s).
	DetailAfter time.Duration `yaml:"detailAfter"`
	// MaxDetails bounds the detail reads per cluster and poll, longest
	// running first (default 20).
	MaxDetails int `yaml:"maxDetails"`
	// ReportOnly runs the rules and records what they would do, without
	// doing it.
	ReportOnly bool `yaml:"reportOnly"`
}

func defaultProtection() Protection {
	return Protection{
		Metadata: Metadata{TTL: 10 * time.Minute, Timeout: 300 * time.Millisecond, SizeClasses: SizeClasses{
			MediumRows: 100_000, LargeRows: 10_000_000, HugeRows: 1_000_000_000,
			MediumBytes: 100 << 20, LargeBytes: 1 << 30, HugeBytes: 100 << 30}},
		IncidentTTL: 24 * time.Hour, IncidentCacheTTL: time.Second,
		IncidentErrors: []string{"EXCEEDED_LOCAL_MEMORY_LIMIT", "EXCEEDED_GLOBAL_MEMORY_LIMIT", "EXCEEDED_SPILL_LIMIT",
			"CLUSTER_OUT_OF_MEMORY", "EXCEEDED_TIME_LIMIT", "EXCEEDED_CPU_LIMIT", "EXCEEDED_SCAN_LIMIT"},
		Watchdog: Watchdog{Interval: 5 * time.Second, DetailAfter: 10 * time.Second, MaxDetails: 20},
	}
}

func (p *Protection) applyDefaults() {
	if om := p.Metadata.OpenMetadata; om != nil && om.TokenEnv != "" {
		om.Token = os.Getenv(om.TokenEnv)
	}
	if t := p.Metadata.Trino; t != nil && t.User == "" {
		t.User = "switchyard"
	}
}

func (p Protection) validate(add func(field, format string, args ...any)) {
	m := p.Metadata
	if m.TTL < time.Second {
		add("protection.metadata.ttl", "must be at least 1s, got %v", m.TTL)
	}
	if m.Timeout < time.Millisecond || m.Timeout > time.Minute {
		add("protection.metadata.timeout", "must be between 1ms and 1m, got %v", m.Timeout)
	}
	if t := m.Trino; t != nil && !ValidName(t.Cluster) {
		add("protection.metadata.trino.cluster", "must name a cluster (%s), got %q", nameRule, t.Cluster)
	}
	if om := m.OpenMetadata; om != nil {
		if u, err := url.Parse(om.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("protection.metadata.openMetadata.url", "want http(s)://host[:port], got %q", om.URL)
		}
		if om.OwnerField != "" && om.OwnerField != "owners" && om.OwnerField != "owner" {
			add("protection.metadata.openMetadata.ownerField", "want owners (OpenMetadata 1.5+) or owner (earlier), got %q", om.OwnerField)
		}
		if om.TokenEnv != "" && om.Token == "" {
			add("protection.metadata.openMetadata.tokenEnv", "environment variable %s is empty or unset", om.TokenEnv)
		}
	}
	sc := m.SizeClasses
	for _, th := range []struct {
		field               string
		medium, large, huge int64
	}{{"rows", sc.MediumRows, sc.LargeRows, sc.HugeRows}, {"bytes", sc.MediumBytes, sc.LargeBytes, sc.HugeBytes}} {
		if th.medium < 1 || th.large <= th.medium || th.huge <= th.large {
			add("protection.metadata.sizeClasses", "the %s thresholds must grow: 0 < medium < large < huge, got %d, %d, %d", th.field, th.medium, th.large, th.huge)
		}
	}
	if p.IncidentTTL < time.Minute {
		add("protection.incidentTTL", "must be at least 1m, got %v", p.IncidentTTL)
	}
	if p.IncidentCacheTTL < 0 || p.IncidentCacheTTL > time.Minute {
		add("protection.incidentCacheTTL", "must be between 0 (no cache) and 1m, got %v", p.IncidentCacheTTL)
	}
	for i, e := range p.IncidentErrors {
		if e == "" {
			add(fmt.Sprintf("protection.incidentErrors[%d]", i), "must not be empty")
		}
	}
	w := p.Watchdog
	if w.Interval < 500*time.Millisecond || w.Interval > 10*time.Minute {
		add("protection.watchdog.interval", "must be between 500ms and 10m, got %v", w.Interval)
	}
	if w.DetailAfter < 0 {
		add("protection.watchdog.detailAfter", "must not be negative, got %v", w.DetailAfter)
	}
	if w.MaxDetails < 0 || w.MaxDetails > 1000 {
		add("protection.watchdog.maxDetails", "must be between 0 and 1000, got %d", w.MaxDetails)
	}
}

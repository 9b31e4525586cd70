package config

import (
	"fmt"
	"os"
	"time"
)

// Governance configures how workload governance runs. The workload
// classes and cluster caps themselves live in policy data
// (data.switchyard.governance), so they change with the policy.
type Governance struct {
	// SlotTTL is how long a running slot outlives a replica that stopped
	// renewing it: the bound on a dead replica's leases (default 30s).
	SlotTTL time.Duration `yaml:"slotTTL"`
	// ReconcileInterval is how often the running slots are checked
	// against the coordinators' query lists, so a lost completion event
	// or a crashed coordinator leaks no slot (default 10s; at most a
	// third of slotTTL).
	ReconcileInterval time.Duration `yaml:"reconcileInterval"`
	// TickInterval is how often each replica expires leases, drops
	// abandoned queue entries and admits from the queue (default 1s).
	TickInterval time.Duration `yaml:"tickInterval"`
	// ClientTimeout drops a queued query no client polled for this long
	// (default 5m, Trino's query.client.timeout).
	ClientTimeout time.Duration `yaml:"clientTimeout"`
	// ClaimTimeout bounds one replica's submission of an admitted queued
	// query before another replica may take it over (default 30s). The
	// submission itself is also bounded by listener.requestTimeout less
	// pollWait, so Envoy never cuts the poll that carries it.
	ClaimTimeout time.Duration `yaml:"claimTimeout"`
	// PollWait is how long a queued query's poll is held (default 1s,
	// like Trino's queued polls).
	PollWait time.Duration `yaml:"pollWait"`
	// Keep is how long an ended queue entry answers its polls (default
	// 10m).
	Keep time.Duration `yaml:"keep"`
	// MaxQueued bounds the whole queue (default 10000).
	MaxQueued int `yaml:"maxQueued"`
	// HistorySize bounds the recent-query history (default 10000).
	HistorySize int `yaml:"historySize"`
	// UnboundGrace: a slot never tied to a query is released after this
	// long (default 2m).
	UnboundGrace time.Duration `yaml:"unboundGrace"`
}

// Events configures the ingest endpoint of Trino's HTTP event listener
// (POST /events/trino on the admin address).
type Events struct {
	// Secrets authenticate the senders: each cluster's event listener
	// sends its secret in X-Switchyard-Event-Secret, which also names the
	// cluster (a cluster may have several, one per coordinator). Without
	// any, the endpoint refuses every event.
	Secrets []EventSecret `yaml:"secrets"`
	// MaxBytes bounds one event (default 16 MiB: a completed event carries
	// the query's plan and statistics, hundreds of KB for small queries).
	MaxBytes int64 `yaml:"maxBytes"`
}

// EventSecret is one cluster's event listener secret.
type EventSecret struct {
	Cluster string `yaml:"cluster"`
	// Secret is the value; SecretEnv names an environment variable that
	// holds it instead (keep secrets out of the file).
	Secret    string `yaml:"secret"`
	SecretEnv string `yaml:"secretEnv"`
}

func defaultGovernance() Governance {
	return Governance{SlotTTL: 30 * time.Second, ReconcileInterval: 10 * time.Second, TickInterval: time.Second,
		ClientTimeout: 5 * time.Minute, ClaimTimeout: 30 * time.Second, PollWait: time.Second, Keep: 10 * time.Minute,
		MaxQueued: 10000, HistorySize: 10000, UnboundGrace: 2 * time.Minute}
}

func (e *Events) applyDefaults() {
	for i := range e.Secrets {
		s := &e.Secrets[i]
		if s.Secret == "" && s.SecretEnv != "" {
			s.Secret = os.Getenv(s.SecretEnv)
		}
	}
}

func (g Governance) validate(requestTimeout time.Duration, add func(field, format string, args ...any)) {
	atLeast := func(field string, v, min time.Duration) {
		if v < min {
			add(field, "must be at least %v, got %v", min, v)
		}
	}
	atLeast("governance.slotTTL", g.SlotTTL, 3*time.Second)
	atLeast("governance.reconcileInterval", g.ReconcileInterval, 100*time.Millisecond)
	if g.SlotTTL >= 3*time.Second && g.ReconcileInterval > g.SlotTTL/3 {
		add("governance.reconcileInterval", "%v is more than a third of governance.slotTTL (%v): a dead replica's running queries would lose their slots before reconciliation adopts them", g.ReconcileInterval, g.SlotTTL)
	}
	atLeast("governance.tickInterval", g.TickInterval, 50*time.Millisecond)
	atLeast("governance.clientTimeout", g.ClientTimeout, time.Second)
	atLeast("governance.claimTimeout", g.ClaimTimeout, time.Second)
	atLeast("governance.keep", g.Keep, time.Second)
	atLeast("governance.unboundGrace", g.UnboundGrace, time.Second)
	if g.PollWait < 10*time.Millisecond || g.PollWait > 10*time.Second {
		add("governance.pollWait", "must be between 10ms and 10s, got %v", g.PollWait)
	}
	if requestTimeout > 0 && g.PollWait >= requestTimeout {
		add("governance.pollWait", "must be less than listener.requestTimeout (%v): Envoy would cut every held poll, got %v", requestTimeout, g.PollWait)
	}
	if g.MaxQueued < 1 {
		add("governance.maxQueued", "must be at least 1, got %d", g.MaxQueued)
	}
	if g.HistorySize < 1 {
		add("governance.historySize", "must be at least 1, got %d", g.HistorySize)
	}
}

func (e Events) validate(add func(field, format string, args ...any)) {
	if e.MaxBytes < 1024 || e.MaxBytes > 256<<20 {
		add("events.maxBytes", "must be between 1024 and 268435456, got %d", e.MaxBytes)
	}
	secrets := map[string]int{}
	for i, s := range e.Secrets {
		f := fmt.Sprintf("events.secrets[%d]", i)
		if !ValidName(s.Cluster) {
			add(f+".cluster", "%q is not a valid cluster name (%s)", s.Cluster, nameRule)
		}
		switch {
		case s.Secret == "" && s.SecretEnv != "":
			add(f+".secretEnv", "environment variable %s is empty or unset", s.SecretEnv)
		case s.Secret == "":
			add(f+".secret", "is required (or secretEnv)")
		case len(s.Secret) < 16:
			add(f+".secret", "must be at least 16 characters")
		default:
			if j, dup := secrets[s.Secret]; dup {
				add(f+".secret", "is the same as events.secrets[%d]'s: the secret names the cluster, so each needs its own", j)
			}
			secrets[s.Secret] = i
		}
	}
}

// SecretsByValue maps each secret to its cluster (the ingest endpoint's
// table).
func (e Events) SecretsByValue() map[string]string {
	out := make(map[string]string, len(e.Secrets))
	for _, s := range e.Secrets {
		out[s.Secret] = s.Cluster
	}
	return out
}

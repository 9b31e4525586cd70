package config

import (
	"net/url"
	"time"
)

// AutoRecovery configures the actions the control plane takes on its own
// (docs/autorecovery.md): taking a cluster out of rotation when its
// coordinator restarts in a loop or its queries fail at a high rate,
// putting it back once it has been stable, and telling a webhook of every
// action and of every group that falls back. Off unless enabled.
type AutoRecovery struct {
	Enabled bool `yaml:"enabled"`
	// Interval is how often the conditions are evaluated (default 5s).
	Interval time.Duration `yaml:"interval"`
	// RestartLoop takes a cluster out when one of its coordinators
	// restarted Restarts times within Window (default 3 in 10m; restarts
	// 0 turns it off).
	RestartLoop RestartLoop `yaml:"restartLoop"`
	// ErrorRate takes a cluster out when more than Threshold of the
	// queries its coordinators finished within Window failed with errors
	// that are not the user's (internal, external, insufficient
	// resources), over at least MinQueries queries (default 0.5 of 20 in
	// 5m; threshold 0 turns it off).
	ErrorRate ErrorRate `yaml:"errorRate"`
	// StableFor is how long a cluster that was taken out must be healthy,
	// without a restart, before it is put back (default 10m).
	StableFor time.Duration `yaml:"stableFor"`
	// KeepLastCluster: never take out the last cluster of a group that
	// takes queries (default true): a degraded cluster serves better than
	// none. The action is recorded as held instead.
	KeepLastCluster *bool `yaml:"keepLastCluster"`
	// Notify tells a webhook of every action.
	Notify Notify `yaml:"notify"`
}

// RestartLoop is the restart-loop condition.
type RestartLoop struct {
	Restarts int           `yaml:"restarts"`
	Window   time.Duration `yaml:"window"`
}

// ErrorRate is the error-rate condition.
type ErrorRate struct {
	Threshold  float64       `yaml:"threshold"`
	MinQueries int           `yaml:"minQueries"`
	Window     time.Duration `yaml:"window"`
}

// Notify is where auto-recovery actions are sent.
type Notify struct {
	// URL receives a POST per action ("": none).
	URL string `yaml:"url"`
	// Format is "webhook" (the default: the JSON an Alertmanager webhook
	// receiver gets, so anything that takes Alertmanager's webhooks takes
	// these) or "alertmanager" (URL is an Alertmanager: the actions are
	// posted to its /api/v2/alerts and appear among its alerts).
	Format string `yaml:"format"`
	// Timeout bounds each POST (default 5s); a failed one is retried
	// twice.
	Timeout time.Duration `yaml:"timeout"`
}

// The notification formats.
const (
	NotifyWebhook      = "webhook"
	NotifyAlertmanager = "alertmanager"
)

func defaultAutoRecovery() AutoRecovery {
	return AutoRecovery{
		Interval:    5 * time.Second,
		RestartLoop: RestartLoop{Restarts: 3, Window: 10 * time.Minute},
		ErrorRate:   ErrorRate{Threshold: 0.5, MinQueries: 20, Window: 5 * time.Minute},
		StableFor:   10 * time.Minute,
		Notify:      Notify{Format: NotifyWebhook, Timeout: 5 * time.Second},
	}
}

func (a *AutoRecovery) applyDefaults() {
	if a.KeepLastCluster == nil {
		t := true
		a.KeepLastCluster = &t
	}
}

func (a AutoRecovery) validate(add func(field, format string, args ...any)) {
	if a.Interval < 100*time.Millisecond || a.Interval > 10*time.Minute {
		add("autoRecovery.interval", "must be between 100ms and 10m, got %v", a.Interval)
	}
	if r := a.RestartLoop; r.Restarts < 0 || r.Restarts == 1 || r.Restarts > 100 {
		add("autoRecovery.restartLoop.restarts", "must be 0 (off) or between 2 and 100, got %d", r.Restarts)
	} else if r.Restarts > 0 && (r.Window < time.Second || r.Window > 24*time.Hour) {
		add("autoRecovery.restartLoop.window", "must be between 1s and 24h, got %v", r.Window)
	}
	if e := a.ErrorRate; e.Threshold < 0 || e.Threshold > 1 {
		add("autoRecovery.errorRate.threshold", "must be between 0 (off) and 1, got %v", e.Threshold)
	} else if e.Threshold > 0 {
		if e.MinQueries < 1 {
			add("autoRecovery.errorRate.minQueries", "must be at least 1, got %d", e.MinQueries)
		}
		if e.Window < 10*time.Second || e.Window > 24*time.Hour {
			add("autoRecovery.errorRate.window", "must be between 10s and 24h, got %v", e.Window)
		}
	}
	if a.StableFor < time.Second || a.StableFor > 7*24*time.Hour {
		add("autoRecovery.stableFor", "must be between 1s and 168h, got %v", a.StableFor)
	}
	n := a.Notify
	if n.URL != "" {
		if u, err := url.Parse(n.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("autoRecovery.notify.url", "want http(s)://host[:port]/path, got %q", n.URL)
		}
	}
	if n.Format != NotifyWebhook && n.Format != NotifyAlertmanager {
		add("autoRecovery.notify.format", "want %s or %s, got %q", NotifyWebhook, NotifyAlertmanager, n.Format)
	}
	if n.Timeout < 100*time.Millisecond || n.Timeout > time.Minute {
		add("autoRecovery.notify.timeout", "must be between 100ms and 1m, got %v", n.Timeout)
	}
}

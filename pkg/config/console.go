package config

import "net/url"

// Console configures the web console (docs/console.md), served on the
// admin address at /console/ to holders of admin tokens.
type Console struct {
	// AlertmanagerURL is the Alertmanager whose alerts the console's
	// alerts page shows ("": none), read through the control plane.
	AlertmanagerURL string `yaml:"alertmanagerURL"`
}

func (c Console) validate(add func(field, format string, args ...any)) {
	if c.AlertmanagerURL == "" {
		return
	}
	if u, err := url.Parse(c.AlertmanagerURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		add("console.alertmanagerURL", "want http(s)://host[:port], got %q", c.AlertmanagerURL)
	}
}

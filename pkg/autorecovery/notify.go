package autorecovery

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/config"
)

// AlertName names auto-recovery's notifications as alerts.
const AlertName = "SwitchyardAutoRecovery"

// Notifier posts actions to a webhook, as Alertmanager's webhook receiver
// payload (format webhook) or as alerts to an Alertmanager's API (format
// alertmanager). Taking a cluster out and a group falling back fire an
// alert that readmission and the group's recovery resolve (same labels);
// a hold fires one that ends by itself after holdAlertFor. Sends run in
// the background, each retried twice; a failure is logged and counted.
type Notifier struct {
	URL     string
	Format  string
	Timeout time.Duration
	Client  *http.Client
	Logger  *slog.Logger
	Metrics *Metrics
	// Backoff is the wait before the first retry, doubled for the second
	// (default 1s).
	Backoff time.Duration

	wg sync.WaitGroup
}

// holdAlertFor is how long a hold's alert lasts.
const holdAlertFor = 15 * time.Minute

// NewNotifier returns the notifier of a configuration (nil without a URL).
func NewNotifier(n config.Notify, log *slog.Logger, m *Metrics) *Notifier {
	if n.URL == "" {
		return nil
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Notifier{URL: n.URL, Format: n.Format, Timeout: n.Timeout, Client: &http.Client{}, Logger: log, Metrics: m, Backoff: time.Second}
}

// alert is one alert in Alertmanager's shapes (webhook payload and API).
type alert struct {
	Status       string            `json:"status,omitempty"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
}

// alertOf is the alert an action fires or resolves.
func alertOf(a Action) alert {
	labels := map[string]string{"alertname": AlertName, "severity": "warning"}
	status, ends := "firing", time.Time{}
	switch a.Action {
	case ActTakeOut, ActReadmit:
		labels["action"], labels["cluster"], labels["group"] = ActTakeOut, a.Cluster, a.Group
		if a.Action == ActReadmit {
			status, ends = "resolved", a.Time
		}
	case ActFallback, ActFallbackEnd:
		labels["action"], labels["group"] = ActFallback, a.Group
		labels["severity"] = "critical"
		if a.Action == ActFallbackEnd {
			status, ends = "resolved", a.Time
		}
	default: // hold
		labels["action"], labels["cluster"], labels["group"] = a.Action, a.Cluster, a.Group
		ends = a.Time.Add(holdAlertFor)
	}
	return alert{Status: status, Labels: labels, StartsAt: a.Time, EndsAt: ends,
		Annotations: map[string]string{"summary": a.Reason, "kind": a.Kind, "event": a.Action}}
}

// body is what an action posts.
func (n *Notifier) body(a Action) ([]byte, error) {
	al := alertOf(a)
	if n.Format == config.NotifyAlertmanager {
		al.Status = ""
		if al.EndsAt.IsZero() {
			// Alertmanager resolves an alert without an end after its
			// resolve_timeout (5m): a firing action lasts until resolved,
			// or a day.
			al.EndsAt = a.Time.Add(24 * time.Hour)
		}
		return json.Marshal([]alert{al})
	}
	group := map[string]string{"alertname": AlertName}
	return json.Marshal(map[string]any{
		"version": "4", "receiver": "switchyard", "status": al.Status,
		"groupKey":    fmt.Sprintf("{}:{alertname=%q}", AlertName),
		"groupLabels": group, "commonLabels": al.Labels, "commonAnnotations": al.Annotations,
		"externalURL": "", "truncatedAlerts": 0, "alerts": []alert{al},
	})
}

// Send posts an action in the background.
func (n *Notifier) Send(a Action) {
	b, err := n.body(a)
	if err != nil {
		n.Logger.Error("auto-recovery notification", "error", err)
		return
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		var err error
		for attempt := range 3 {
			if attempt > 0 {
				time.Sleep(time.Duration(attempt) * n.Backoff) // backoff between retries
			}
			if err = n.post(b); err == nil {
				return
			}
		}
		if n.Metrics != nil {
			n.Metrics.NotifyErrors.Inc()
		}
		n.Logger.Warn("auto-recovery: the webhook did not take the notification", "url", n.URL, "action", a.Action, "error", err)
	}()
}

// Wait blocks until the notifications in flight are done (for tests and
// shutdown).
func (n *Notifier) Wait() { n.wg.Wait() }

func (n *Notifier) post(b []byte) error {
	url := n.URL
	if n.Format == config.NotifyAlertmanager {
		url = strings.TrimSuffix(url, "/") + "/api/v2/alerts"
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}

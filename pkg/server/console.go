package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/admin"
	"github.com/switchyard-gw/switchyard/pkg/console"
)

// consoleSampler keeps the fleet's load for the console's charts: every
// 2 seconds for the last 10 minutes.
func (s *Server) consoleSampler() *console.Sampler {
	return &console.Sampler{Fleet: s.router.Fleet, Status: s.poller.Status, Interval: 2 * time.Second, Keep: 300}
}

// consoleOptions is what the admin API serves for the console.
func (s *Server) consoleOptions() *admin.Console {
	c := &admin.Console{Assets: console.Handler(), Path: console.Path,
		Load: func() any { return s.loadSampler.Samples() }}
	if u := s.cfg.Console.AlertmanagerURL; u != "" {
		client := &http.Client{Timeout: 5 * time.Second}
		c.Alerts = func(ctx context.Context) (any, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(u, "/")+"/api/v2/alerts?active=true", nil)
			if err != nil {
				return nil, err
			}
			resp, err := client.Do(req)
			if err != nil {
				return nil, err
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
			if err != nil {
				return nil, err
			}
			if resp.StatusCode != http.StatusOK {
				return nil, fmt.Errorf("%s: %.200s", resp.Status, b)
			}
			var alerts []any
			if err := json.Unmarshal(b, &alerts); err != nil {
				return nil, fmt.Errorf("not a list of alerts: %v", err)
			}
			return alerts, nil
		}
	}
	return c
}

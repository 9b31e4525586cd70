package loadgen

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Config describes one load run. Zero values select the defaults.
type Config struct {
	// URL is the server's base URL (scheme and host, optionally a path
	// prefix); queries are POSTed to URL + "/v1/statement".
	URL string
	// SQL is the statement text of every query (default "SELECT 1").
	SQL string
	// User is sent as X-Trino-User (default "loadgen").
	User string
	// Headers are added to every request (e.g. X-Trino-Source).
	Headers http.Header
	// TLS configures an https URL's client side (nil: Go's defaults).
	TLS *tls.Config
	// RewriteNextURI, when set, maps every nextUri before it is requested
	// (e.g. to strip the gateway's path prefix, so that each follow-up is
	// routed by a store lookup instead of by path).
	RewriteNextURI func(nextURI string) string

	// Concurrency is the number of closed-loop workers (default 1). It is
	// ignored in open-loop mode.
	Concurrency int
	// Rate, when positive, selects open-loop mode: queries are started at
	// this many per second on a fixed schedule, whether or not earlier
	// ones have completed.
	Rate float64
	// MaxInFlight caps the open loop's running queries (default 1000); a
	// start that would exceed it is dropped and counted.
	MaxInFlight int

	// Duration is the length of the measured window, after Warmup. When it
	// expires, queries still running are aborted (and cancelled on the
	// server with a best-effort DELETE).
	Duration time.Duration
	// MaxQueries, when positive, ends the run once this many measured
	// queries have been started and have ended. At least one of Duration
	// and MaxQueries must be set.
	MaxQueries int64
	// Warmup runs load before the measured window; queries started during
	// it are excluded from the results.
	Warmup time.Duration

	// MaxRetries is how often a GET answered 502, 503 or 504 is retried
	// (default 5; negative disables retries). POSTs are not retried.
	MaxRetries int
	// RetryBackoffMin and RetryBackoffMax bound the random pause before a
	// retry (default 50ms and 100ms).
	RetryBackoffMin, RetryBackoffMax time.Duration
	// RequestTimeout bounds each HTTP request (default 60s).
	RequestTimeout time.Duration
	// MaxIdleConnsPerHost sizes the keep-alive pool (default Concurrency,
	// or MaxInFlight in open-loop mode).
	MaxIdleConnsPerHost int
	// MaxBodyBytes bounds a response body (default 64 MiB); a larger one is
	// a protocol error.
	MaxBodyBytes int64

	// PIDs names processes whose CPU time and peak RSS are sampled over
	// the measured window (see Sampler).
	PIDs map[string]int
	// SampleInterval is the RSS sampling period (default 100ms).
	SampleInterval time.Duration
}

// Defaults of Config.
const (
	DefaultSQL             = "SELECT 1"
	DefaultUser            = "loadgen"
	DefaultMaxInFlight     = 1000
	DefaultMaxRetries      = 5
	DefaultRetryBackoffMin = 50 * time.Millisecond
	DefaultRetryBackoffMax = 100 * time.Millisecond
	DefaultRequestTimeout  = 60 * time.Second
	DefaultMaxBodyBytes    = 64 << 20
	DefaultSampleInterval  = 100 * time.Millisecond
)

// openLoop reports whether the configuration selects open-loop mode.
func (c Config) openLoop() bool { return c.Rate > 0 }

// normalize validates c and fills in the defaults.
func (c Config) normalize() (Config, error) {
	u, err := url.Parse(c.URL)
	if err != nil {
		return c, fmt.Errorf("parsing server URL %q: %w", c.URL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c, fmt.Errorf("server URL %q: want http(s)://host[:port]", c.URL)
	}
	c.URL = strings.TrimRight(c.URL, "/")
	switch {
	case c.Rate < 0:
		return c, errors.New("rate must not be negative")
	case c.Duration < 0 || c.Warmup < 0 || c.MaxQueries < 0:
		return c, errors.New("duration, warm-up and max queries must not be negative")
	case c.Duration == 0 && c.MaxQueries == 0:
		return c, errors.New("the run is unbounded: set a duration or a maximum number of queries")
	}
	if c.SQL == "" {
		c.SQL = DefaultSQL
	}
	if c.User == "" {
		c.User = DefaultUser
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 1
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = DefaultMaxRetries
	} else if c.MaxRetries < 0 {
		c.MaxRetries = 0
	}
	if c.RetryBackoffMin <= 0 {
		c.RetryBackoffMin = DefaultRetryBackoffMin
	}
	if c.RetryBackoffMax < c.RetryBackoffMin {
		c.RetryBackoffMax = max(c.RetryBackoffMin, DefaultRetryBackoffMax)
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.MaxIdleConnsPerHost <= 0 {
		c.MaxIdleConnsPerHost = c.Concurrency
		if c.openLoop() {
			c.MaxIdleConnsPerHost = c.MaxInFlight
		}
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	c.MaxBodyBytes = min(c.MaxBodyBytes, 1<<40)
	if c.SampleInterval <= 0 {
		c.SampleInterval = DefaultSampleInterval
	}
	return c, nil
}

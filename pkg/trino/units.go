package trino

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Trino (airlift) writes durations as a non-negative decimal and a unit
// ("10.23s", "1.21m") and data sizes likewise ("1.20MB", powers of 1024);
// session properties such as query_max_execution_time and
// query_max_scan_physical_bytes take the same forms.

var durationUnits = map[string]float64{
	"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9, "h": 3600e9, "d": 86400e9,
}

var sizeUnits = map[string]float64{
	"B": 1, "kB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40, "PB": 1 << 50,
}

// ParseDuration reads a Trino duration such as "10.23s" or "30m".
func ParseDuration(s string) (time.Duration, error) {
	v, err := parseUnit(s, durationUnits)
	if err != nil {
		return 0, fmt.Errorf("duration %q: %w", clip(s, 40), err)
	}
	return time.Duration(v), nil
}

// ParseDataSize reads a Trino data size such as "1.20MB" or "1TB", in
// bytes.
func ParseDataSize(s string) (int64, error) {
	v, err := parseUnit(s, sizeUnits)
	if err != nil {
		return 0, fmt.Errorf("data size %q: %w", clip(s, 40), err)
	}
	return v, nil
}

// FormatDuration writes d in the largest unit that keeps it whole ("30m",
// "1500ms"), a form Trino reads back exactly.
func FormatDuration(d time.Duration) string {
	for _, u := range []struct {
		name string
		n    time.Duration
	}{{"d", 24 * time.Hour}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}, {"ms", time.Millisecond}, {"us", time.Microsecond}} {
		if d >= u.n && d%u.n == 0 {
			return strconv.FormatInt(int64(d/u.n), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(d), 10) + "ns"
}

// FormatDataSize writes n bytes in the largest unit that keeps it whole
// ("1TB", "1536MB").
func FormatDataSize(n int64) string {
	for _, u := range []struct {
		name string
		n    int64
	}{{"PB", 1 << 50}, {"TB", 1 << 40}, {"GB", 1 << 30}, {"MB", 1 << 20}, {"kB", 1 << 10}} {
		if n >= u.n && n%u.n == 0 {
			return strconv.FormatInt(n/u.n, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}

var errNotNumber = errors.New("want a non-negative decimal number and a unit")

// parseUnit reads "<decimal><unit>" (airlift's grammar, spaces allowed
// around and between) into a whole number of base units.
func parseUnit(s string, units map[string]float64) (int64, error) {
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	num, unit := s[:i], strings.TrimSpace(s[i:])
	if num == "" || num[0] == '.' || num[len(num)-1] == '.' || strings.Count(num, ".") > 1 {
		return 0, errNotNumber
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, errNotNumber
	}
	mult, ok := units[unit]
	if !ok {
		return 0, fmt.Errorf("unknown unit %q", clip(unit, 10))
	}
	v := math.Round(f * mult)
	if v >= math.MaxInt64 {
		return 0, errors.New("out of range")
	}
	return int64(v), nil
}

// clip shortens s for an error message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

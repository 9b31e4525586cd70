package bench

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// scrape reads the control plane's /metrics into series -> value
// (series as written, labels included: `name{k="v"}`).
func scrape(ctx context.Context, admin string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+admin+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reading %s/metrics: %w", admin, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("reading %s/metrics: HTTP %d", admin, resp.StatusCode)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if l == "" || l[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(l[i+1:], 64); err == nil {
			out[l[:i]] = v
		}
	}
	return out, sc.Err()
}

// The series the bench reads from a Switchyard control plane.
const (
	seriesRoundTrips    = "switchyard_store_round_trips_total"
	seriesDecisionSum   = `switchyard_extproc_decision_seconds_sum{kind="submit"}`
	seriesDecisionCount = `switchyard_extproc_decision_seconds_count{kind="submit"}`
	seriesAdmitSum      = `switchyard_governance_store_seconds_sum{op="admit"}`
	seriesAdmitCount    = `switchyard_governance_store_seconds_count{op="admit"}`
)

// meanDelta is the mean of a histogram over the interval between two
// scrapes, in µs (0 when nothing was observed).
// admissionStages are the stages of the admission pipeline, in order
// (switchyard_admission_stage_seconds's stage label).
var admissionStages = []string{"classify", "external-router", "cost", "findings", "session", "policy", "protection", "transaction", "affinity", "governance", "balance"}

func meanDelta(before, after map[string]float64, sum, count string) float64 {
	n := after[count] - before[count]
	if n <= 0 {
		return 0
	}
	return (after[sum] - before[sum]) / n * 1e6
}

// redisRoundTrip is the median time of n PINGs to the Redis at addr, one
// after another on one connection, from the bench process (µs): what one
// more round trip costs on this machine.
func redisRoundTrip(ctx context.Context, addr string, n int) (float64, error) {
	c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second, ReadTimeout: time.Second, PoolSize: 1})
	defer c.Close()
	if err := c.Ping(ctx).Err(); err != nil { // the connection, outside the timing
		return 0, fmt.Errorf("PING %s: %w", addr, err)
	}
	d := make([]float64, 0, n)
	for range n {
		start := time.Now()
		if err := c.Ping(ctx).Err(); err != nil {
			return 0, fmt.Errorf("PING %s: %w", addr, err)
		}
		d = append(d, float64(time.Since(start).Nanoseconds())/1000)
	}
	slices.Sort(d)
	return d[len(d)/2], nil
}

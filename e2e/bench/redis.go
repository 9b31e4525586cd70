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

// storeRoundTrips reads switchyard_store_round_trips_total from the
// control plane's /metrics: the requests it has sent to Redis (a command,
// a script or a pipeline is one).
func storeRoundTrips(ctx context.Context, admin string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+admin+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("reading %s/metrics: %w", admin, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("reading %s/metrics: HTTP %d", admin, resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "switchyard_store_round_trips_total "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%s/metrics has no switchyard_store_round_trips_total", admin)
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

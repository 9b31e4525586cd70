package loadgen

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram layout. Durations are recorded in nanoseconds in a log-linear
// (HDR-style) layout: values below 512 ns exactly; above, each power-of-two
// range [2^k, 2^(k+1)) is split into 256 equal buckets, so a bucket is at
// most 1/256 of its lower bound wide. Reporting a bucket's midpoint bounds
// the relative error of any quantile by 1/512 (about 0.2%). Values above
// 2^40 ns (about 18 minutes) share the top bucket; Max and Mean are exact
// regardless. The layout takes 8448 counters (66 KiB) per histogram,
// independent of the number of samples, and recording is lock-free.
const (
	histSubBits    = 8
	histSubCount   = 1 << histSubBits // buckets per power of two
	histExactLimit = 2 * histSubCount // values below are recorded exactly
	histMaxBits    = 40               // values up to 2^40-1 ns are bucketed precisely
	histMaxShift   = histMaxBits - (histSubBits + 1)
	histBuckets    = histExactLimit + histMaxShift*histSubCount
	histMaxValue   = 1<<histMaxBits - 1
)

// Histogram records durations for quantile estimates with under 0.2%
// relative error (see the layout above). The zero value is ready to use and
// it is safe for concurrent use; read it after recording has stopped for a
// consistent snapshot.
type Histogram struct {
	buckets [histBuckets]atomic.Uint64
	count   atomic.Uint64
	sum     atomic.Uint64 // nanoseconds
	max     atomic.Uint64 // nanoseconds
}

func histBucket(v uint64) int {
	if v < histExactLimit {
		return int(v)
	}
	if v > histMaxValue {
		v = histMaxValue
	}
	shift := bits.Len64(v) - (histSubBits + 1)
	return histExactLimit + (shift-1)*histSubCount + int(v>>shift) - histSubCount
}

// histValue is the representative (midpoint) value of bucket i.
func histValue(i int) uint64 {
	if i < histExactLimit {
		return uint64(i)
	}
	j := i - histExactLimit
	shift := j/histSubCount + 1
	lo := uint64(j%histSubCount+histSubCount) << shift
	return lo + (uint64(1)<<shift-1)/2
}

// Record adds one duration (negative durations count as zero).
func (h *Histogram) Record(d time.Duration) {
	v := uint64(max(d, 0))
	h.buckets[histBucket(v)].Add(1)
	h.count.Add(1)
	h.sum.Add(v)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// Count is the number of recorded durations.
func (h *Histogram) Count() int64 { return int64(h.count.Load()) }

// Max is the largest recorded duration (exact).
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Mean is the average recorded duration (exact up to rounding).
func (h *Histogram) Mean() time.Duration {
	n := h.count.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load() / n)
}

// Quantile returns the q-quantile (0 < q <= 1) by the nearest-rank method:
// the smallest recorded value such that at least q of all values are less
// or equal, within the histogram's resolution. It never exceeds Max.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.count.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	rank = min(max(rank, 1), n)
	var seen uint64
	for i := range h.buckets {
		seen += h.buckets[i].Load()
		if seen >= rank {
			return time.Duration(min(histValue(i), h.max.Load()))
		}
	}
	return h.Max()
}

// LatencyStats summarises one Histogram, in microseconds.
type LatencyStats struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50_us"`
	P90   float64 `json:"p90_us"`
	P99   float64 `json:"p99_us"`
	P999  float64 `json:"p999_us"`
	Max   float64 `json:"max_us"`
	Mean  float64 `json:"mean_us"`
}

// Stats summarises the histogram.
func (h *Histogram) Stats() LatencyStats {
	return LatencyStats{
		Count: h.Count(),
		P50:   micros(h.Quantile(0.50)),
		P90:   micros(h.Quantile(0.90)),
		P99:   micros(h.Quantile(0.99)),
		P999:  micros(h.Quantile(0.999)),
		Max:   micros(h.Max()),
		Mean:  micros(h.Mean()),
	}
}

func micros(d time.Duration) float64 {
	return math.Round(float64(d)/1e3*1000) / 1000 // nanosecond precision, in µs
}

package loadgen

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func within(got, want, rel float64) bool {
	return math.Abs(got-want) <= rel*math.Abs(want)
}

func TestHistogramKnownData(t *testing.T) {
	var h Histogram
	for i := 1000; i >= 1; i-- { // 1..1000 µs, out of order
		h.Record(time.Duration(i) * time.Microsecond)
	}
	s := h.Stats()
	tests := []struct {
		name      string
		got, want float64
		rel       float64
	}{
		{"p50", s.P50, 500, 0.005},
		{"p90", s.P90, 900, 0.005},
		{"p99", s.P99, 990, 0.005},
		{"p99.9", s.P999, 999, 0.005},
		{"max", s.Max, 1000, 0},
		{"mean", s.Mean, 500.5, 0},
	}
	for _, tt := range tests {
		if !within(tt.got, tt.want, tt.rel) {
			t.Errorf("%s = %v µs, want %v (±%v%%)", tt.name, tt.got, tt.want, tt.rel*100)
		}
	}
	if s.Count != 1000 {
		t.Errorf("count %d, want 1000", s.Count)
	}
}

func TestHistogramSmallValuesAreExact(t *testing.T) {
	var h Histogram
	for i := 1; i <= 100; i++ {
		h.Record(time.Duration(i))
	}
	for _, q := range []struct {
		q    float64
		want time.Duration
	}{{0.01, 1}, {0.5, 50}, {0.9, 90}, {0.999, 100}, {1, 100}} {
		if got := h.Quantile(q.q); got != q.want {
			t.Errorf("Quantile(%v) = %v, want %v", q.q, got, q.want)
		}
	}
}

func TestHistogramSkewed(t *testing.T) {
	var h Histogram
	for i := 0; i < 990; i++ {
		h.Record(time.Millisecond)
	}
	for i := 0; i < 10; i++ {
		h.Record(time.Second)
	}
	if got := h.Quantile(0.99); !within(float64(got), float64(time.Millisecond), 0.005) {
		t.Errorf("p99 = %v, want 1ms", got)
	}
	if got := h.Quantile(0.991); !within(float64(got), float64(time.Second), 0.005) {
		t.Errorf("p99.1 = %v, want 1s", got)
	}
}

func TestHistogramEmptyAndHuge(t *testing.T) {
	var h Histogram
	if s := h.Stats(); s != (LatencyStats{}) {
		t.Fatalf("empty histogram: %+v", s)
	}
	h.Record(-time.Second)
	h.Record(10 * time.Hour) // beyond the precise range
	if got := h.Max(); got != 10*time.Hour {
		t.Fatalf("max %v, want 10h", got)
	}
	if got := h.Quantile(1); got > 10*time.Hour || got < time.Hour/4 {
		t.Fatalf("p100 %v, want at most 10h and in the top bucket", got)
	}
	if got := h.Quantile(0.5); got != 0 {
		t.Fatalf("p50 %v, want 0 (negative recorded as 0)", got)
	}
}

func TestHistogramRelativeError(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 100000; i++ {
		v := uint64(rng.Int64N(histMaxValue))
		if i%2 == 0 {
			v >>= rng.IntN(40) // cover every magnitude
		}
		b := histBucket(v)
		if b < 0 || b >= histBuckets {
			t.Fatalf("value %d: bucket %d out of range", v, b)
		}
		got := histValue(b)
		if v == 0 {
			if got != 0 {
				t.Fatalf("value 0 reported as %d", got)
			}
			continue
		}
		if err := math.Abs(float64(got)-float64(v)) / float64(v); err > 1.0/256 {
			t.Fatalf("value %d: bucket %d reports %d, relative error %.4f", v, b, got, err)
		}
	}
	for i := 1; i < histBuckets; i++ {
		if histValue(i) <= histValue(i-1) {
			t.Fatalf("bucket values not increasing at %d", i)
		}
	}
}

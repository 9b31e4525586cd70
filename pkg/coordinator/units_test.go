package coordinator

import (
	"encoding/json"
	"math"
	"testing"
	"time"
)

func TestDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  string
	}{
		{`"10.23s"`, 10230 * time.Millisecond, ""},
		{`"17.79ms"`, 17790 * time.Microsecond, ""},
		{`"57.12us"`, 57120 * time.Nanosecond, ""},
		{`"0.00ns"`, 0, ""},
		{`"1.21m"`, 72600 * time.Millisecond, ""},
		{`"2.00h"`, 2 * time.Hour, ""},
		{`"1.50d"`, 36 * time.Hour, ""},
		{`" 3 s "`, 3 * time.Second, ""},
		{`"10230000000ns"`, 10230 * time.Millisecond, ""},
		{`null`, 0, ""},
		{`5`, 0, "must be a string"},
		{`"5"`, 0, "unknown unit"},
		{`"-1s"`, 0, "non-negative decimal"},
		{`"1.s"`, 0, "non-negative decimal"},
		{`".5s"`, 0, "non-negative decimal"},
		{`"1.2.3s"`, 0, "non-negative decimal"},
		{`"1e3s"`, 0, "unknown unit"},
		{`"3 weeks"`, 0, "unknown unit"},
		{`"99999999999999999999d"`, 0, "out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var d Duration
			err := json.Unmarshal([]byte(tt.in), &d)
			if tt.err != "" {
				wantErr(t, err, tt.err)
				return
			}
			if err != nil || d.Std() != tt.want {
				t.Fatalf("got %v, %v; want %v", d.Std(), err, tt.want)
			}
			roundTrip(t, d, func(b []byte) (Duration, error) { var v Duration; return v, json.Unmarshal(b, &v) })
		})
	}
}

func TestDataSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  string
	}{
		{`"156864B"`, 156864, ""},
		{`"1.20MB"`, 1258291, ""},
		{`"2kB"`, 2048, ""},
		{`"1GB"`, 1 << 30, ""},
		{`"1.5TB"`, 3 << 39, ""},
		{`"1PB"`, 1 << 50, ""},
		{`"0B"`, 0, ""},
		{`"1KB"`, 0, "unknown unit"}, // airlift spells it kB
		{`156864`, 0, "must be a string"},
		{`"-1B"`, 0, "non-negative decimal"},
		{`"9000PB"`, 0, "out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var s DataSize
			err := json.Unmarshal([]byte(tt.in), &s)
			if tt.err != "" {
				wantErr(t, err, tt.err)
				return
			}
			if err != nil || int64(s) != tt.want {
				t.Fatalf("got %d, %v; want %d", s, err, tt.want)
			}
			roundTrip(t, s, func(b []byte) (DataSize, error) { var v DataSize; return v, json.Unmarshal(b, &v) })
		})
	}
}

func TestFloat(t *testing.T) {
	tests := []struct {
		in   string
		want float64
		err  string
	}{
		{`0.25`, 0.25, ""},
		{`"NaN"`, math.NaN(), ""},
		{`"Infinity"`, math.Inf(1), ""},
		{`"-Infinity"`, math.Inf(-1), ""},
		{`"1.5"`, 0, "want a number"},
		{`true`, 0, "want a number"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var f Float
			err := json.Unmarshal([]byte(tt.in), &f)
			if tt.err != "" {
				wantErr(t, err, tt.err)
				return
			}
			got := float64(f)
			if err != nil || !(got == tt.want || math.IsNaN(got) && math.IsNaN(tt.want)) {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
			roundTrip(t, f, func(b []byte) (Float, error) { var v Float; return v, json.Unmarshal(b, &v) })
		})
	}
}

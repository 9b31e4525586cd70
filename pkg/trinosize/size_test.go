package trinosize

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"64GiB", 64 * GiB},
		{"64GB", 64 * GiB}, // Trino's DataSize: GB is 1024^3
		{"64gb", 64 * GiB},
		{" 64 GiB ", 64 * GiB},
		{"1.5GiB", 3 * GiB / 2},
		{"1.5GB", 3 * GiB / 2},
		{"0.5TiB", 512 * GiB},
		{"1434MB", 1434 * MiB},
		{"1434MiB", 1434 * MiB},
		{"32kB", 32 * KiB},
		{"32KB", 32 * KiB},
		{"32KiB", 32 * KiB},
		{"1TB", TiB},
		{"2PB", 2 * PiB},
		{"100B", 100},
		{"0B", 0},
		{"0GiB", 0},
		{"1.3GiB", 1395864371}, // 1395864371.2 bytes: nearest byte
		{"1.5B", 2},            // half rounds up, as in Trino
		{"007MB", 7 * MiB},
		{"8191PiB", 8191 * PiB},
		{"8191.999999PiB", 9223372035728875901},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestParseSizeErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `"" is not a size: empty`},
		{"   ", "empty"},
		{"-1GiB", `"-1GiB" is not a size: negative`},
		{"12", `"12" is not a size: no unit (use e.g. 12GiB)`},
		{"1.5", "no unit"},
		{"GiB", "no number"},
		{"+1GiB", "no number"},
		{"64XB", `"64XB" is not a size: unknown unit "XB"`},
		{"64 G", `unknown unit "G"`},
		{"64GiBs", `unknown unit "GiBs"`},
		{"1e400GiB", `"1e400" is not a decimal number`},
		{"1E3MB", `"1E3" is not a decimal number`},
		{"1.2.3GiB", "not a decimal number"},
		{".5GiB", "not a decimal number"},
		{"5.GiB", "not a decimal number"},
		{"0x10GiB", `unknown unit "x10GiB"`},
		{"8192PiB", "too large (over 8EiB)"},
		{"9999999999TiB", "too large"},
		{"99999999999999999999GiB", "too large"},
		{"8EB", `unknown unit "EB"`},
		{strings.Repeat("9", 65) + "B", "longer than 64 characters"},
		{"1 GiB 2", `unknown unit "GiB 2"`},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseSize(%q) = %d, %v; want an error containing %q", tt.in, got, err, tt.want)
			continue
		}
		var se *SizeError
		if !errors.As(err, &se) || se.Input != tt.in {
			t.Errorf("ParseSize(%q): error %T %v, want a *SizeError for the input", tt.in, err, err)
		}
	}
}

func TestFormatSize(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{
		{0, "0B"},
		{1, "1B"},
		{1023, "1023B"},
		{KiB, "1kB"},
		{1536, "1536B"},
		{45 * GiB, "45GB"},
		{1434 * MiB, "1434MB"},
		{3 * GiB / 2, "1536MB"},
		{15668 * MiB, "15668MB"},
		{5 * GiB, "5GB"},
		{1024 * GiB, "1TB"},
		{3 * PiB, "3PB"},
		{2048 * PiB, "2048PB"},
		{GiB + 1, "1073741825B"},
		{-5 * MiB, "-5MB"},
		{math.MinInt64, "-8192PB"},
		{math.MaxInt64, "9223372036854775807B"},
	}
	for _, tt := range tests {
		if got := FormatSize(tt.in); got != tt.want {
			t.Errorf("FormatSize(%d) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestHuman(t *testing.T) {
	for in, want := range map[int64]string{0: "0 bytes", 1: "1 byte", 100: "100 bytes", 64 * GiB: "64GiB", 15668 * MiB: "15668MiB", TiB: "1TiB", 512 * KiB: "512KiB"} {
		if got := human(in); got != want {
			t.Errorf("human(%d) = %q, want %q", in, got, want)
		}
	}
}

// FuzzParseSize: ParseSize never panics, never returns a negative size,
// errors name the input, and what it reads, FormatSize writes back to the
// same size.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"64GiB", "64GB", "1.5GiB", "1434MB", "32kB", "0B", "", "-1GiB", "12", "1e400GiB", "8192PiB", "8191.999999PiB", " 7 tib ", "1.GB", "..", "9" + strings.Repeat("0", 30) + "B"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err != nil {
			var se *SizeError
			if !errors.As(err, &se) || se.Input != s {
				t.Fatalf("ParseSize(%q): error %v is not a *SizeError naming the input", s, err)
			}
			return
		}
		if n < 0 {
			t.Fatalf("ParseSize(%q) = %d, negative", s, n)
		}
		out := FormatSize(n)
		back, err := ParseSize(out)
		if err != nil || back != n {
			t.Fatalf("ParseSize(%q) = %d; FormatSize = %q; ParseSize again = %d, %v", s, n, out, back, err)
		}
	})
}

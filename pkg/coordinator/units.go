package coordinator

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/trino"
)

// Duration is a Trino (airlift) duration such as "10.23s", "17.79ms" or
// "1.21m": a non-negative decimal number and a unit (ns, us, ms, s, m, h,
// d). It is written back as whole nanoseconds ("10230000000ns"), which
// Trino's parser accepts too.
type Duration time.Duration

// UnmarshalJSON accepts a duration string; anything else is an error.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration must be a string like \"1.5s\", got %.40s", b)
	}
	v, err := trino.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes whole nanoseconds.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(strconv.FormatInt(int64(d), 10) + "ns")
}

// Std returns the duration as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// DataSize is a Trino (airlift) data size such as "156864B" or "1.20MB":
// a non-negative decimal number and a unit (B, kB, MB, GB, TB, PB, powers of
// 1024), in bytes. It is written back in bytes ("156864B").
type DataSize int64

// UnmarshalJSON accepts a data size string; anything else is an error.
func (s *DataSize) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var str string
	if err := json.Unmarshal(b, &str); err != nil {
		return fmt.Errorf("a data size must be a string like \"1.20MB\", got %.40s", b)
	}
	v, err := trino.ParseDataSize(str)
	if err != nil {
		return err
	}
	*s = DataSize(v)
	return nil
}

// MarshalJSON writes bytes.
func (s DataSize) MarshalJSON() ([]byte, error) {
	return json.Marshal(strconv.FormatInt(int64(s), 10) + "B")
}

// Float is a JSON number that Trino may also write as the strings "NaN",
// "Infinity" or "-Infinity" (Jackson's form for values that JSON cannot
// hold). Those are written back as the same strings.
type Float float64

// UnmarshalJSON accepts a number or one of the three strings.
func (f *Float) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err == nil {
		*f = Float(v)
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a number, got %.40s", b)
	}
	switch s {
	case "NaN":
		*f = Float(math.NaN())
	case "Infinity":
		*f = Float(math.Inf(1))
	case "-Infinity":
		*f = Float(math.Inf(-1))
	default:
		return fmt.Errorf("want a number, got %q", clip(s, 40))
	}
	return nil
}

// MarshalJSON writes a number, or "NaN" / "Infinity" / "-Infinity".
func (f Float) MarshalJSON() ([]byte, error) {
	v := float64(f)
	switch {
	case math.IsNaN(v):
		return []byte(`"NaN"`), nil
	case math.IsInf(v, 1):
		return []byte(`"Infinity"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-Infinity"`), nil
	}
	return json.Marshal(v)
}

// clip shortens s for an error message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

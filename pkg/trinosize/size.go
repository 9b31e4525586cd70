package trinosize

import (
	"fmt"
	"math"
	"math/big"
	"strings"
)

// Binary units: Trino's data sizes are binary (airlift DataSize: its GB is
// 1024^3 bytes).
const (
	KiB int64 = 1 << (10 * (iota + 1))
	MiB
	GiB
	TiB
	PiB
)

// sizeUnits are the units ParseSize accepts, keyed by lower case: Trino's
// spelling (kB, MB, GB, ...) and the IEC one (KiB, MiB, GiB, ...), both
// binary.
var sizeUnits = map[string]int64{
	"b":  1,
	"kb": KiB, "kib": KiB,
	"mb": MiB, "mib": MiB,
	"gb": GiB, "gib": GiB,
	"tb": TiB, "tib": TiB,
	"pb": PiB, "pib": PiB,
}

// SizeError is a string ParseSize could not read.
type SizeError struct {
	Input  string
	Reason string
}

func (e *SizeError) Error() string { return fmt.Sprintf("%q is not a size: %s", e.Input, e.Reason) }

// maxSizeLen bounds what ParseSize reads: no size needs more characters.
const maxSizeLen = 64

// ParseSize reads a data size such as "64GiB", "64GB" or "1.5GiB". Units
// are binary whichever way they are spelt, as in Trino's DataSize (GB is
// 1024^3 bytes): B, kB (KB, KiB), MB (MiB), GB (GiB), TB (TiB), PB (PiB),
// case-insensitive. A number without a unit is an error (bytes or
// gigabytes? say which), as is a negative, an exponent or a size over
// 8EiB. A fraction of a byte rounds to the nearest byte, like Trino.
func ParseSize(s string) (int64, error) {
	bad := func(format string, args ...any) error {
		return &SizeError{Input: s, Reason: fmt.Sprintf(format, args...)}
	}
	t := strings.TrimSpace(s)
	switch {
	case t == "":
		return 0, bad("empty")
	case len(t) > maxSizeLen:
		return 0, bad("longer than %d characters", maxSizeLen)
	case t[0] == '-':
		return 0, bad("negative")
	}
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.TrimSpace(t[i:])
	if num == "" {
		return 0, bad("no number (use e.g. 64GiB)")
	}
	whole, frac, dot := strings.Cut(num, ".")
	if whole == "" || strings.Contains(frac, ".") || dot && frac == "" {
		return 0, bad("%q is not a decimal number", leadingNumber(t))
	}
	if len(unit) > 1 && (unit[0] == 'e' || unit[0] == 'E') && strings.ContainsRune("0123456789+-", rune(unit[1])) {
		return 0, bad("%q is not a decimal number", leadingNumber(t))
	}
	if unit == "" {
		return 0, bad("no unit (use e.g. %sGiB)", num)
	}
	mult, ok := sizeUnits[strings.ToLower(unit)]
	if !ok {
		return 0, bad("unknown unit %q (B, kB, MB, GB, TB, PB or KiB, MiB, GiB, TiB, PiB)", unit)
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, bad("%q is not a decimal number", num)
	}
	r.Mul(r, new(big.Rat).SetInt64(mult))
	// Round half up to a whole byte.
	r.Add(r, big.NewRat(1, 2))
	n := new(big.Int).Quo(r.Num(), r.Denom())
	if !n.IsInt64() {
		return 0, bad("too large (over 8EiB)")
	}
	return n.Int64(), nil
}

// leadingNumber is the run of characters before the unit, for messages:
// digits, dots, signs and exponents ("1e400" of "1e400GiB").
func leadingNumber(t string) string {
	i := strings.IndexFunc(t, func(r rune) bool {
		return !(r >= '0' && r <= '9' || r == '.' || r == 'e' || r == 'E' || r == '+' || r == '-')
	})
	if i < 0 {
		return t
	}
	return t[:i]
}

// trinoUnits are Trino's DataSize units, largest first.
var trinoUnits = []struct {
	name string
	size int64
}{{"PB", PiB}, {"TB", TiB}, {"GB", GiB}, {"MB", MiB}, {"kB", KiB}, {"B", 1}}

// FormatSize writes b the way Trino's DataSize reads it: a whole number in
// the largest unit that divides b exactly ("45GB", "1434MB", "0B"). The
// units are binary (GB is 1024^3 bytes).
func FormatSize(b int64) string {
	if b < 0 {
		if b == math.MinInt64 {
			return "-8192PB"
		}
		return "-" + FormatSize(-b)
	}
	for _, u := range trinoUnits {
		if b >= u.size && b%u.size == 0 {
			return fmt.Sprintf("%d%s", b/u.size, u.name)
		}
	}
	return "0B"
}

// human writes b exactly with IEC units for rule texts and messages
// ("64GiB", "15668MiB", "512KiB", "100 bytes").
func human(b int64) string {
	for _, u := range []struct {
		name string
		size int64
	}{{"PiB", PiB}, {"TiB", TiB}, {"GiB", GiB}, {"MiB", MiB}, {"KiB", KiB}} {
		if b >= u.size && b%u.size == 0 {
			return fmt.Sprintf("%d%s", b/u.size, u.name)
		}
	}
	if b == 1 {
		return "1 byte"
	}
	return fmt.Sprintf("%d bytes", b)
}

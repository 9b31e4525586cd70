package trinosim

import (
	"encoding/hex"
	"math/rand/v2"
	"time"
)

// queryIDCounterLimit is where Trino's five-digit query counter wraps.
const queryIDCounterLimit = 100000

// randomSuffix returns the five lowercase letters that end every query ID of
// one server instance (Trino picks them once per coordinator start).
func randomSuffix() string {
	var b [5]byte
	for i := range b {
		b[i] = byte('a' + rand.IntN(26))
	}
	return string(b[:])
}

// formatQueryID renders Trino's query ID format YYYYMMDD_HHMMSS_NNNNN_xxxxx
// for the UTC time t, the counter value n and the instance suffix.
func formatQueryID(t time.Time, n uint64, suffix string) string {
	t = t.UTC()
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	b := make([]byte, 0, 22+len(suffix))
	b = appendDigits(b, y, 4)
	b = appendDigits(b, int(mo), 2)
	b = appendDigits(b, d, 2)
	b = append(b, '_')
	b = appendDigits(b, h, 2)
	b = appendDigits(b, mi, 2)
	b = appendDigits(b, s, 2)
	b = append(b, '_')
	b = appendDigits(b, int(n%queryIDCounterLimit), 5)
	b = append(b, '_')
	b = append(b, suffix...)
	return string(b)
}

// appendDigits appends v in decimal, zero-padded to width digits (v is kept
// to its width lowest digits; callers pass non-negative values).
func appendDigits(b []byte, v, width int) []byte {
	if v < 0 {
		v = -v
	}
	var tmp [8]byte
	for i := width - 1; i >= 0; i-- {
		tmp[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, tmp[:width]...)
}

// newSlug returns a per-query slug: "y" and 40 hex characters, the shape of
// Trino's slugs.
func newSlug() string {
	var raw [24]byte
	for i := 0; i < len(raw); i += 8 {
		v := rand.Uint64()
		for j := 0; j < 8; j++ {
			raw[i+j] = byte(v >> (8 * j))
		}
	}
	var out [41]byte
	out[0] = 'y'
	hex.Encode(out[1:], raw[:20])
	return string(out[:])
}

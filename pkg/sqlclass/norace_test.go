//go:build !race

package sqlclass

// raceEnabled is true when the race detector is on; the 64 MiB test is
// skipped then.
const raceEnabled = false

// Package health polls Trino coordinators and turns raw check results into
// a stable up/down state with rise and fall thresholds.
package health

import "fmt"

// State is the health of one coordinator as routing sees it.
type State int

// Health states. Unknown is the state before the first check.
const (
	Unknown State = iota
	Healthy
	Unhealthy
)

func (s State) String() string {
	switch s {
	case Healthy:
		return "healthy"
	case Unhealthy:
		return "unhealthy"
	case Unknown:
		return "unknown"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Tracker applies rise/fall thresholds to a stream of check results: it
// takes Fall consecutive failures to go from healthy to unhealthy and Rise
// consecutive successes to come back. The first result after start decides
// the state at once, so a fresh control plane routes without waiting.
type Tracker struct {
	Rise, Fall int
	state      State
	streak     int // consecutive results that disagree with state
}

// State returns the current state.
func (t *Tracker) State() State { return t.state }

// Observe records one check result and reports whether the state changed.
func (t *Tracker) Observe(ok bool) bool {
	switch {
	case t.state == Unknown:
		t.state = Unhealthy
		if ok {
			t.state = Healthy
		}
		t.streak = 0
		return true
	case ok == (t.state == Healthy):
		t.streak = 0
		return false
	}
	t.streak++
	need := t.Fall
	if ok {
		need = t.Rise
	}
	if t.streak < need {
		return false
	}
	t.streak = 0
	if ok {
		t.state = Healthy
	} else {
		t.state = Unhealthy
	}
	return true
}

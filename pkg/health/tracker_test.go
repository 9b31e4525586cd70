package health

import "testing"

func TestTrackerThresholds(t *testing.T) {
	tests := []struct {
		name    string
		results string // '+' success, '-' failure
		want    string // state letter after each result: h, u
	}{
		{"first success decides", "+", "h"},
		{"first failure decides", "-", "u"},
		{"one failure does not flap", "+-+-+", "hhhhh"},
		{"three failures go down", "+---", "hhhu"},
		{"two successes come back", "+---++", "hhhuuh"},
		{"a failure resets the rise streak", "---+-++", "uuuuuuh"},
		{"a success resets the fall streak", "+--+--", "hhhhhh"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := Tracker{Rise: 2, Fall: 3}
			got := ""
			for _, r := range tt.results {
				tr.Observe(r == '+')
				got += map[State]string{Healthy: "h", Unhealthy: "u", Unknown: "?"}[tr.State()]
			}
			if got != tt.want {
				t.Fatalf("results %q: states %q, want %q", tt.results, got, tt.want)
			}
		})
	}
}

func TestTrackerReportsChanges(t *testing.T) {
	tr := Tracker{Rise: 1, Fall: 1}
	if !tr.Observe(true) {
		t.Fatal("first result must report a change from unknown")
	}
	if tr.Observe(true) {
		t.Fatal("a repeated success must not report a change")
	}
	if !tr.Observe(false) {
		t.Fatal("with fall=1 one failure must report a change")
	}
}

package store

import (
	"strings"
	"testing"
)

// The prelude splits into its definitions, every local function among
// them, and nothing of it is lost.
func TestParsePrelude(t *testing.T) {
	defs := parsePrelude(govPrelude)
	funcs := 0
	var all []string
	for _, d := range defs {
		if strings.Contains(d.text, "local function "+d.names[0]+"(") {
			funcs++
		}
		all = append(all, d.text)
	}
	if want := strings.Count(govPrelude, "\nlocal function "); funcs != want {
		t.Fatalf("%d function definitions, the prelude has %d", funcs, want)
	}
	if got, want := strings.Join(strings.Fields(strings.Join(all, "\n")), " "), strings.Join(strings.Fields(govPrelude), " "); got != want {
		t.Fatalf("the definitions are not the prelude:\n%s", got)
	}
	if len(defs[0].names) != 1 || defs[0].names[0] != "K" || !strings.Contains(defs[0].text, "for i, n in ipairs") {
		t.Fatalf("first definition %+v", defs[0])
	}
}

// Each script gets every prelude definition it uses (directly or through
// another) and none it does not.
func TestGovScriptsGetWhatTheyUse(t *testing.T) {
	defs := parsePrelude(govPrelude)
	for name, body := range map[string]string{
		"admit": govAdmit, "enqueue": govEnqueue, "poll": govPoll, "claim": govClaim, "submitted": govSubmitted,
		"requeue": govRequeue, "finish": govFinish, "bind": govBind, "release": govRelease, "complete": govComplete,
		"renew": govRenew, "adopt": govAdopt, "tick": govTick, "snapshot": govSnapshot, "adjust": govAdjust,
	} {
		linked := govScript(body)
		if !strings.HasSuffix(linked, body) {
			t.Fatalf("%s: the body is not at the end", name)
		}
		for _, d := range defs {
			in := strings.Contains(linked, d.text+"\n")
			rest := strings.Replace(linked, d.text+"\n", "", 1)
			used := false
			for _, n := range d.names {
				used = used || uses(rest, n)
			}
			if in != used {
				t.Errorf("%s: definition of %v included %v, used %v", name, d.names, in, used)
			}
		}
	}
	if b := govScript(govBind); strings.Contains(b, "local function dispatch") || !strings.Contains(b, "local function bind") {
		t.Fatalf("bind's script:\n%s", b)
	}
}

func TestUses(t *testing.T) {
	for _, tc := range []struct {
		code, name string
		want       bool
	}{
		{"num(x)", "num", true},
		{"x = K.run", "K", true},
		{"L.num", "num", false},
		{"s:num()", "num", false},
		{"number(1)", "num", false},
		{"enum(1)", "num", false},
		{"a, num", "num", true},
		{"", "num", false},
	} {
		if got := uses(tc.code, tc.name); got != tc.want {
			t.Errorf("uses(%q, %q) = %v", tc.code, tc.name, got)
		}
	}
}

package resubmit

import (
	"strings"
	"testing"

	"github.com/switchyard-gw/switchyard/pkg/trino"
)

// FuzzParsePoll: whatever prefix and path Envoy forwards, parsePoll never
// panics; what it accepts names a cluster, a coordinator and a valid query
// ID of a statement poll, and it calls a poll unread only in the queued
// phase or on the first executing page.
func FuzzParsePoll(f *testing.F) {
	for _, s := range [][2]string{
		{"/_sy/a/0", "/v1/statement/queued/20260101_000000_00001_abcde/y/1"},
		{"/_sy/a/0", "/v1/statement/executing/q1/x/0"},
		{"/_sy/a/0", "/v1/statement/executing/q1/x/17"},
		{"/_sy/blue/primary", "/v1/statement/executing/partialCancel/q1/2/x/3"},
		{"/_sy//0", "/v1/statement/queued/q1/x/1"},
		{"", "/v1/statement/queued/q1/x/1"},
		{"/_sy/a/0", "/v1/statement/queued/Q!/x/-1"},
		{"/_sy/a/0", "/v1/info"},
		{"/_sy/a/0/extra", "/v1/statement/executing/q1/x/99999999999999999999"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, prefix, path string) {
		p, err := parsePoll(prefix, path, "")
		if err != nil {
			return
		}
		if p.cluster == "" || p.coordinator == "" || !trino.ValidQueryID(p.queryID) {
			t.Fatalf("parsePoll(%q, %q) accepted %+v", prefix, path, p)
		}
		if p.kind != trino.PathQueued && p.kind != trino.PathExecuting && p.kind != trino.PathPartialCancel {
			t.Fatalf("parsePoll(%q, %q): kind %v is not a poll", prefix, path, p.kind)
		}
		if p.token < -1 {
			t.Fatalf("parsePoll(%q, %q): token %d", prefix, path, p.token)
		}
		if p.unread() && !(p.kind == trino.PathQueued || (p.kind == trino.PathExecuting && p.token == 0)) {
			t.Fatalf("parsePoll(%q, %q): %+v called unread", prefix, path, p)
		}
		if p.unread() && p.kind == trino.PathExecuting && !strings.HasSuffix(path, "/0") {
			t.Fatalf("parsePoll(%q, %q): an executing poll not of page 0 called unread", prefix, path)
		}
	})
}

package trino

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestQueueURI(t *testing.T) {
	uri := QueueURI("http://gw:8080", "sy_20261204_025949_4eedec59bba1", "0123abcd", 7)
	if uri != "http://gw:8080/_sy/_queue/v1/statement/queued/sy_20261204_025949_4eedec59bba1/0123abcd/7" {
		t.Fatalf("QueueURI: %s", uri)
	}
	id, slug, token, ok := ParseQueueURI(strings.TrimPrefix(uri, "http://gw:8080"))
	if !ok || id != "sy_20261204_025949_4eedec59bba1" || slug != "0123abcd" || token != 7 {
		t.Fatalf("ParseQueueURI: %q %q %d %v", id, slug, token, ok)
	}
	for _, bad := range []string{
		"/_sy/_queue/v1/statement/queued/id/slug",
		"/_sy/_queue/v1/statement/queued/id/slug/01",
		"/_sy/_queue/v1/statement/queued/id/slug/-1",
		"/_sy/_queue/v1/statement/queued/id/slug/1/x",
		"/_sy/_queue/v1/statement/queued//slug/1",
		"/_sy/_queue/v1/statement/queued/ID/slug/1",
		"/_sy/_queue/v1/statement/queued/id/SLUG/1",
		"/_sy/_queue/v1/statement/executing/id/slug/1",
		"/_sy/a/0/v1/statement/queued/id/slug/1",
	} {
		if _, _, _, ok := ParseQueueURI(bad); ok {
			t.Errorf("%s parsed", bad)
		}
	}
}

func TestQueuedQueryResults(t *testing.T) {
	b := QueuedQueryResults("sy_1", "http://gw/ui/", "http://gw/next", 1500, 3, "because")
	var r struct {
		ID      string `json:"id"`
		NextURI string `json:"nextUri"`
		Stats   struct {
			State             string `json:"state"`
			Queued            bool   `json:"queued"`
			ElapsedTimeMillis int    `json:"elapsedTimeMillis"`
			QueuePosition     int    `json:"queuePosition"`
			QueueReason       string `json:"queueReason"`
		} `json:"stats"`
		Warnings []any `json:"warnings"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if r.ID != "sy_1" || r.NextURI != "http://gw/next" || r.Stats.State != "QUEUED" || !r.Stats.Queued || r.Stats.ElapsedTimeMillis != 1500 ||
		r.Stats.QueuePosition != 3 || r.Stats.QueueReason != "because" || r.Warnings == nil || len(r.Warnings) != 0 {
		t.Fatalf("%s", b)
	}
}

// FuzzQueueURI: whatever the path, parsing never panics, and what it
// accepts renders back to the same path.
func FuzzQueueURI(f *testing.F) {
	f.Add("/_sy/_queue/v1/statement/queued/sy_20261204_025949_4eedec59bba1/0123abcd/7")
	f.Add("/_sy/_queue/v1/statement/queued/a/b/0")
	f.Add("/_sy/_queue/v1/statement/queued/a/b/00")
	f.Add("/_sy/_queue/v1/statement/queued/a%2Fb/c/1")
	f.Fuzz(func(t *testing.T, path string) {
		id, slug, token, ok := ParseQueueURI(path)
		if !ok {
			return
		}
		if got := strings.TrimPrefix(QueueURI("", id, slug, token), ""); got != path {
			t.Fatalf("%q parsed to %q %q %d, which renders %q", path, id, slug, token, got)
		}
	})
}

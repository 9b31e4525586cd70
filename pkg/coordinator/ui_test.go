package coordinator

import (
	"context"
	"strings"
	"testing"
)

func TestUIQueries(t *testing.T) {
	f := newFake(t, answer(200, `[{"queryId":"q1","state":"RUNNING"},{"queryId":"q2"}]`))
	got, err := New(Options{}).UIQueries(context.Background(), f.srv.URL, "tok", "state=RUNNING")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || string(got[0]) != `{"queryId":"q1","state":"RUNNING"}` {
		t.Fatalf("entries %s", got)
	}
	r := f.only()
	if r.Path != "/ui/api/query" || r.RawQuery != "state=RUNNING" || r.Header.Get("Cookie") != UITokenCookie+"=tok" {
		t.Fatalf("request %+v", r)
	}

	for body, want := range map[string]string{
		`{"error":"x"}`: "decoding the answer", // not a list
		`[{"queryId"`:   "decoding the answer",
	} {
		f := newFake(t, answer(200, body))
		if _, err := New(Options{}).UIQueries(context.Background(), f.srv.URL, "tok", ""); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "GET /ui/api/query") {
			t.Errorf("%s: error %v, want one naming the call and %q", body, err, want)
		}
	}
	f = newFake(t, answer(401, "Unauthorized"))
	if _, err := New(Options{}).UIQueries(context.Background(), f.srv.URL, "stale", ""); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("a refused token: %v", err)
	}
}

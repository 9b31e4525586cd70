package coordinator

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// Kill is PUT /v1/query/{id}/killed with the reason as text/plain, which
// Trino 476 shows the user as "Query killed. Message: <reason>" (a JSON
// body would keep its quotes).
func TestKill(t *testing.T) {
	f := newFake(t, answer(202, ""))
	reason := "Killed by switchyard: ran longer than 10m (rule long-running)"
	if err := New(Options{}).Kill(context.Background(), f.srv.URL, testQueryID, "  "+reason+"\n"); err != nil {
		t.Fatal(err)
	}
	r := f.only()
	if r.Method != "PUT" || r.Path != "/v1/query/"+testQueryID+"/killed" || r.Body != reason ||
		!strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("request %s %s %q (%s)", r.Method, r.Path, r.Body, r.Header.Get("Content-Type"))
	}
}

func TestKillErrors(t *testing.T) {
	tests := []struct {
		name   string
		status int
		is     error
	}{
		{"finished", 409, ErrQueryDone},
		{"unknown", 410, ErrQueryGone},
		{"forbidden", 403, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, answer(tt.status, ""))
			err := New(Options{}).Kill(context.Background(), f.srv.URL, testQueryID, "why")
			var se *StatusError
			if !errors.As(err, &se) || se.Status != tt.status || (tt.is != nil && !errors.Is(err, tt.is)) {
				t.Fatalf("got %v, want HTTP %d (%v)", err, tt.status, tt.is)
			}
			wantErr(t, err, f.srv.URL, "PUT /v1/query/"+testQueryID+"/killed")
		})
	}
	f := newFake(t, answer(202, ""))
	for _, tt := range []struct{ id, reason, err string }{
		{testQueryID, " \n", "needs a reason"},
		{testQueryID, strings.Repeat("r", maxReasonBytes+1), "longer than 4096 bytes"},
		{"x/../../v1/info", "why", "is not a Trino query ID"},
	} {
		wantErr(t, New(Options{}).Kill(context.Background(), f.srv.URL, tt.id, tt.reason), tt.err)
	}
	if n := len(f.requests()); n != 0 {
		t.Fatalf("%d requests sent for refused kills", n)
	}
}

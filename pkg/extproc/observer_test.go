package extproc

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/metadata"

	"github.com/switchyard-gw/switchyard/pkg/admission"
	"github.com/switchyard-gw/switchyard/pkg/store"
	"github.com/switchyard-gw/switchyard/pkg/xds"
)

func metricsHarness() (*harness, *admission.Metrics) {
	m := admission.NewMetrics(prometheus.NewRegistry())
	return newHarness(nil, func(o *admission.Options) { o.Metrics = m }), m
}

// A refused submission hands the observer nothing (Envoy answers the
// client itself, and the observer's matcher never opens a stream).
func TestRefusedSubmissionHasNoTicket(t *testing.T) {
	f := newHarness(nil).open(t)
	rs := submit(t, f, []string{"x-trino-routing-group", "nope"}, "SELECT 1")
	if rs[0].GetImmediateResponse() == nil {
		t.Fatalf("want a refusal, got %v", rs[0])
	}
	if ticketOf(rs[0]) != "" {
		t.Fatal("a refusal carries a ticket")
	}
}

// The answer comes in several chunks: the follow-up reads them all.
func TestObserverJoinsTheAnswersChunks(t *testing.T) {
	h := newHarness(nil)
	rs := submit(t, h.open(t), nil, "SELECT 1")
	cluster, _ := routeHeader(rs[0])
	ans := strings.ReplaceAll(firstResults, "%s", cluster)
	hs := headers("POST", "/v1/statement", false)
	mutate(hs.GetRequestHeaders(), rs[0].GetRequestHeaders().GetResponse().GetHeaderMutation())
	ctx := observerCtx()
	fs := &fakeStream{ctx: ctx, in: make(chan *extprocv3.ProcessingRequest, 8), out: make(chan *extprocv3.ProcessingResponse, 1), done: make(chan error, 1)}
	go func() { fs.done <- h.srv.Process(fs) }()
	fs.in <- hs
	for i := 0; i < len(ans); i += 40 {
		end := min(i+40, len(ans))
		fs.in <- &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseBody{ResponseBody: &extprocv3.HttpBody{Body: []byte(ans[i:end]), EndOfStream: end == len(ans)}}}
	}
	close(fs.in)
	if err := <-fs.done; err != nil {
		t.Fatal(err)
	}
	h.pipe.Wait()
	if r, err := h.store.GetQuery(context.Background(), "20260101_000000_00001_abcde"); err != nil || r.Cluster != cluster {
		t.Fatalf("recorded %+v, %v", r, err)
	}
}

// A stream that ends without the coordinator's answer (the coordinator
// failed, the client went away) frees what the submission held.
func TestObserverWithoutAnAnswer(t *testing.T) {
	h, m := metricsHarness()
	rs := submit(t, h.open(t), nil, "SELECT 1")
	h.observe(t, rs[0], "SELECT 1", "")
	if n := testutil.ToFloat64(m.Answers.WithLabelValues("unanswered")); n != 1 {
		t.Fatalf("unanswered %v, want 1", n)
	}
}

// A stream without a readable ticket (none, or not the gateway's) does
// nothing and records nothing.
func TestObserverIgnoresStreamsWithoutATicket(t *testing.T) {
	h, m := metricsHarness()
	ans := strings.ReplaceAll(firstResults, "%s", "a")
	for _, ticket := range []string{"", "garbage", "e30"} {
		hs := headers("POST", "/v1/statement", false, xds.TicketHeader, ticket)
		h.observeRaw(t, hs, chunk("SELECT 1", true), ans)
	}
	if _, err := h.store.GetQuery(context.Background(), "20260101_000000_00001_abcde"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("recorded without a ticket: %v", err)
	}
	for _, o := range []string{"recorded", "refused", "unanswered"} {
		if n := testutil.ToFloat64(m.Answers.WithLabelValues(o)); n != 0 {
			t.Errorf("%s counted %v times", o, n)
		}
	}
}

// The observer's SQL body is kept for resubmission (up to the body
// limit), as the decision saw it.
func TestObserverKeepsTheStatementForResubmission(t *testing.T) {
	st := store.NewMemory()
	h := newHarness(st.Queries, func(o *admission.Options) { o.Replays, o.ReplayMaxBytes = st.Replays, 1024 })
	rs := submit(t, h.open(t), nil, "SELECT ", "42")
	cluster, _ := routeHeader(rs[0])
	h.observe(t, rs[0], "SELECT 42", strings.ReplaceAll(firstResults, "%s", cluster), "x-trino-catalog", "tpch")
	h.pipe.Wait()
	r, err := st.Replays.GetReplay(context.Background(), "20260101_000000_00001_abcde")
	if err != nil || r.SQL != "SELECT 42" || r.User != "alice" {
		t.Fatalf("replay %+v, %v", r, err)
	}
	found := false
	for _, hd := range r.Headers {
		found = found || hd.Name == "x-trino-catalog" && hd.Value == "tpch"
	}
	if !found {
		t.Errorf("replay headers %+v lack the catalog", r.Headers)
	}
}

func observerCtx() context.Context {
	return metadataCtx(xds.StreamRoleMetadata, xds.StreamRoleObserve)
}

// FuzzObserverStream plays any sequence of messages on an observer's
// stream with any ticket: it never panics, never fails the stream and
// never answers (Envoy ignores an observer's answers).
func FuzzObserverStream(f *testing.F) {
	good, _ := admission.FollowUp{ID: "sy_1", Group: "adhoc", Cluster: "a", User: "alice"}.Encode()
	f.Add([]byte{0, 1, 2}, good, strings.ReplaceAll(firstResults, "%s", "a"))
	f.Add([]byte{2, 0, 2}, "x", "{}")
	f.Add([]byte{0, 3, 3}, good, `{"id":"q","nextUri":"http://x/_sy/b/0/v1/statement/queued/q/y/1"}`)
	f.Fuzz(func(t *testing.T, ops []byte, ticket, text string) {
		if len(ops) > 16 {
			ops = ops[:16]
		}
		h := newHarness(nil)
		fs := &fakeStream{ctx: observerCtx(), in: make(chan *extprocv3.ProcessingRequest, len(ops)), out: make(chan *extprocv3.ProcessingResponse, 1), done: make(chan error, 1)}
		for _, op := range ops {
			var m *extprocv3.ProcessingRequest
			switch op % 4 {
			case 0:
				m = &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestHeaders{RequestHeaders: &extprocv3.HttpHeaders{
					Headers: &corev3.HeaderMap{Headers: []*corev3.HeaderValue{{Key: ":path", RawValue: []byte("/v1/statement")}, {Key: xds.TicketHeader, RawValue: []byte(ticket)}}},
				}}}
			case 1:
				m = chunk(text, op&0x80 != 0)
			case 2:
				m = &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseBody{ResponseBody: &extprocv3.HttpBody{Body: []byte(text), EndOfStream: op&0x80 != 0}}}
			default:
				m = &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseTrailers{ResponseTrailers: &extprocv3.HttpTrailers{}}}
			}
			fs.in <- m
		}
		close(fs.in)
		if err := h.srv.Process(fs); err != nil {
			t.Fatalf("observer stream: %v", err)
		}
		// The follow-up runs on after the stream: a panic in it belongs
		// to this input.
		h.pipe.Wait()
		if len(fs.out) > 0 {
			t.Fatalf("the observer answered %v", <-fs.out)
		}
	})
}

func metadataCtx(kv ...string) context.Context {
	return metadata.NewIncomingContext(context.Background(), metadata.Pairs(kv...))
}

// The observer closes its stream as soon as the answer is through: Envoy
// holds an observability-mode stream open until the processor closes it
// (or for deferred_close_timeout), and idle streams held open fill the
// connection to the control plane.
func TestObserverClosesItsStreamAfterTheAnswer(t *testing.T) {
	h := newHarness(nil)
	rs := submit(t, h.open(t), nil, "SELECT 1")
	cluster, _ := routeHeader(rs[0])
	hs := headers("POST", "/v1/statement", false)
	mutate(hs.GetRequestHeaders(), rs[0].GetRequestHeaders().GetResponse().GetHeaderMutation())
	fs := &fakeStream{ctx: observerCtx(), in: make(chan *extprocv3.ProcessingRequest, 4), out: make(chan *extprocv3.ProcessingResponse, 1), done: make(chan error, 1)}
	go func() { fs.done <- h.srv.Process(fs) }()
	fs.in <- hs
	fs.in <- responseBody(strings.ReplaceAll(firstResults, "%s", cluster))
	// Envoy has not closed its side: the processor must.
	select {
	case err := <-fs.done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the observer kept its stream open after the answer")
	}
	close(fs.in)
	h.pipe.Wait()
	if _, err := h.store.GetQuery(context.Background(), "20260101_000000_00001_abcde"); err != nil {
		t.Fatal(err)
	}
}

package extproc

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/switchyard-gw/switchyard/pkg/store"
	"github.com/switchyard-gw/switchyard/pkg/xds"
)

// message builds the i-th message of a fuzzed stream from one opcode and a
// piece of text.
func message(op byte, text string) *extprocv3.ProcessingRequest {
	methods := []string{"POST", "GET", "DELETE", "PUT"}
	paths := []string{"/v1/statement", "/v1/statement/executing/20260101_000000_00001_abcde/y/1", "/v1/query/20260101_000000_00001_abcde",
		"/_sy/a/0/ui/query.html?x", "/v1/info", "/v1/statement/queued/" + text + "/y/1", "/" + text}
	switch op % 6 {
	case 0:
		h := headers(methods[int(op/6)%len(methods)], paths[int(op/24)%len(paths)], op&0x80 != 0,
			"x-trino-routing-group", text, "x-trino-session", text, "x-trino-transaction-id", strings.Repeat(text, int(op)%2))
		return h
	case 1:
		return chunk(text, op&0x80 != 0)
	case 2:
		return responseBody(text)
	case 3:
		return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseHeaders{ResponseHeaders: &extprocv3.HttpHeaders{}}}
	case 4:
		return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestTrailers{RequestTrailers: &extprocv3.HttpTrailers{}}}
	}
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestHeaders{RequestHeaders: &extprocv3.HttpHeaders{
		Headers: &corev3.HeaderMap{Headers: []*corev3.HeaderValue{{Key: ":path", RawValue: []byte(text)}, {Key: "x-switchyard-route", RawValue: []byte(text)}}},
	}}}
}

// FuzzMessageSequence plays any sequence of ext_proc messages: the service
// never panics; a stream that does not start with request headers, or
// repeats them, is refused; every answer fits the message it answers; and
// a route header, when set, names one of the fleet's targets, whatever the
// client sent.
func FuzzMessageSequence(f *testing.F) {
	f.Add([]byte{0, 1, 1 | 0x80, 2}, "SELECT 1")
	f.Add([]byte{0 | 0x80 | 6}, "x")
	f.Add([]byte{1, 0}, "")
	f.Add([]byte{0, 0}, "a")
	f.Add([]byte{5, 1}, "/v1/statement")
	f.Add([]byte{0, 1, 1, 1, 1 | 0x80, 3, 2, 4}, strings.Repeat("y", 40))
	f.Add([]byte{24 * 5, 2}, "20260101_000000_00001_abcde")
	targets := map[string]bool{"a": true, "b": true, "a/0": true, "b/0": true}
	h := newHarness(nil) // shared: streams are independent, as in the service
	_ = h.store.PutQuery(context.Background(), "20260101_000000_00001_abcde", store.QueryRoute{Cluster: "b", Coordinator: "0"}, 3600e9)
	f.Fuzz(func(t *testing.T, ops []byte, text string) {
		if len(ops) > 32 {
			ops = ops[:32]
		}
		var st streamState
		for i, op := range ops {
			m := message(op, text)
			out, err := h.srv.step(context.Background(), &st, m)
			first := i == 0
			_, isHeaders := m.Request.(*extprocv3.ProcessingRequest_RequestHeaders)
			switch {
			case first && !isHeaders:
				if !errors.Is(err, errFirstMessage) {
					t.Fatalf("a stream starting with %T: %v", m.Request, err)
				}
				return
			case !first && isHeaders:
				if !errors.Is(err, errSecondHeaders) {
					t.Fatalf("second request headers: %v", err)
				}
				return
			case err != nil:
				t.Fatalf("message %d (%T): %v", i, m.Request, err)
			}
			for _, r := range out {
				if !fits(m, r) {
					t.Fatalf("%T answered with %T", m.Request, r.Response)
				}
				if im := r.GetImmediateResponse(); im != nil {
					if im.GetStatus().GetCode() == 0 || len(im.GetBody()) == 0 {
						t.Fatalf("immediate response without a status or a body: %v", im)
					}
					return // Envoy ends the stream
				}
				for _, hv := range r.GetRequestHeaders().GetResponse().GetHeaderMutation().GetSetHeaders() {
					if k := hv.GetHeader().GetKey(); k == xds.RouteHeader && !targets[string(hv.GetHeader().GetRawValue())] {
						t.Fatalf("route header %q is not a fleet target (client text %q)", hv.GetHeader().GetRawValue(), text)
					}
				}
			}
		}
	})
}

// fits reports whether r may answer m: body chunks are answered with the
// headers' decision and one answer per chunk; other messages in kind.
func fits(m *extprocv3.ProcessingRequest, r *extprocv3.ProcessingResponse) bool {
	if r.GetImmediateResponse() != nil {
		_, headers := m.Request.(*extprocv3.ProcessingRequest_RequestHeaders)
		_, body := m.Request.(*extprocv3.ProcessingRequest_RequestBody)
		return headers || body
	}
	switch m.Request.(type) {
	case *extprocv3.ProcessingRequest_RequestHeaders:
		return r.GetRequestHeaders() != nil
	case *extprocv3.ProcessingRequest_RequestBody:
		return r.GetRequestHeaders() != nil || r.GetRequestBody() != nil
	case *extprocv3.ProcessingRequest_ResponseBody:
		return r.GetResponseBody() != nil
	case *extprocv3.ProcessingRequest_ResponseHeaders:
		return r.GetResponseHeaders() != nil
	case *extprocv3.ProcessingRequest_RequestTrailers:
		return r.GetRequestTrailers() != nil
	}
	return false
}

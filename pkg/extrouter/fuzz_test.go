package extrouter

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	routerv1 "github.com/switchyard-gw/switchyard/proto/switchyard/router/v1"
)

// The header rules, written independently of validHeaderName and
// validHeaderValue: an RFC 9110 token, and a field value without control
// characters other than tab.
var (
	headerNameRE  = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
	headerValueRE = regexp.MustCompile(`^[^\x00-\x08\x0a-\x1f\x7f]*$`)
)

func headersValid(h map[string]string) bool {
	for k, v := range h {
		if !headerNameRE.MatchString(k) || !headerValueRE.MatchString(v) {
			return false
		}
	}
	return true
}

// checkError checks what every refused answer's error must be: it names
// the external router and is short enough to log and to show a client.
func checkError(t *testing.T, err error) {
	t.Helper()
	if msg := err.Error(); !strings.Contains(msg, "external router") || len(msg) > 512 {
		t.Fatalf("error %.600q: want a short message naming the external router", msg)
	}
}

// FuzzHTTPAnswer feeds any status and body to the HTTP client as the
// service's answer (seeds in testdata/fuzz/FuzzHTTPAnswer). The answer is
// accepted exactly when it is a 200 of at most MaxAnswerBytes holding a
// JSON Response whose headers are valid HTTP, and then the Response is
// what the service sent (routing group, errors and headers unchanged) and
// survives a JSON round trip; otherwise the error says why.
func FuzzHTTPAnswer(f *testing.F) {
	f.Fuzz(func(t *testing.T, code uint16, body []byte) {
		status := http.StatusOK // code 0; any other code is a status 100-999
		if code != 0 {
			status = 100 + int(code)%900
		}
		r, err := httpAnswer(status, body)
		if (r == nil) == (err == nil) {
			t.Fatalf("got %+v and %v: want a Response or an error", r, err)
		}
		var sent Response
		decodeErr := json.Unmarshal(body, &sent)
		accept := status == http.StatusOK && len(body) <= MaxAnswerBytes && decodeErr == nil && headersValid(sent.Headers)
		if accept != (err == nil) {
			t.Fatalf("status %d, %d bytes, JSON error %v, headers valid %v: got %+v, %v", status, len(body), decodeErr, headersValid(sent.Headers), r, err)
		}
		if err != nil {
			checkError(t, err)
			if status != http.StatusOK && !strings.Contains(err.Error(), fmt.Sprintf("HTTP %d", status)) {
				t.Fatalf("status %d: error %q does not give it", status, err)
			}
			if status == http.StatusOK && len(body) > MaxAnswerBytes && !strings.Contains(err.Error(), "exceeds") {
				t.Fatalf("%d bytes: error %q does not say the answer is too large", len(body), err)
			}
			return
		}
		if !reflect.DeepEqual(*r, sent) {
			t.Fatalf("got %+v, the service sent %+v", *r, sent)
		}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var again Response
		if err := json.Unmarshal(b, &again); err != nil || !reflect.DeepEqual(again, *r) {
			t.Fatalf("round trip of %+v gave %+v (%v)", *r, again, err)
		}
	})
}

// answerClient is a RouterServiceClient that answers m, without a network.
type answerClient struct{ m *routerv1.RouteResponse }

func (a answerClient) Route(context.Context, *routerv1.RouteRequest, ...grpc.CallOption) (*routerv1.RouteResponse, error) {
	return a.m, nil
}

// FuzzGRPCAnswer decodes any bytes as a RouteResponse, as the gRPC codec
// does, and maps it (seeds in testdata/fuzz/FuzzGRPCAnswer). Bytes that do
// not decode fail the call in the codec; a decoded answer is accepted
// exactly when its headers are valid HTTP, and then the Response carries
// its routing group, errors and headers unchanged.
func FuzzGRPCAnswer(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		var m routerv1.RouteResponse
		if err := proto.Unmarshal(b, &m); err != nil {
			return
		}
		c := &grpcClient{c: answerClient{&m}, timeout: time.Second}
		r, err := c.Route(context.Background(), req)
		if (r == nil) == (err == nil) {
			t.Fatalf("got %+v and %v: want a Response or an error", r, err)
		}
		if valid := headersValid(m.GetExternalHeaders()); valid != (err == nil) {
			t.Fatalf("headers %q valid %v: got %+v, %v", m.GetExternalHeaders(), valid, r, err)
		}
		if err != nil {
			checkError(t, err)
			return
		}
		if r.RoutingGroup != m.GetRoutingGroup() || !slices.Equal(r.Errors, m.GetErrors()) || !maps.Equal(r.Headers, m.GetExternalHeaders()) {
			t.Fatalf("got %+v from %v", r, &m)
		}
	})
}

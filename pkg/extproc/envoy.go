package extproc

import (
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/switchyard-gw/switchyard/pkg/admission"
	"github.com/switchyard-gw/switchyard/pkg/trino"
	"github.com/switchyard-gw/switchyard/pkg/xds"
)

// readHeaders reads a request from Envoy's request headers.
func readHeaders(h *extprocv3.HttpHeaders, req *admission.Request) {
	for _, hv := range h.GetHeaders().GetHeaders() {
		v := headerValue(hv)
		switch k := hv.GetKey(); k {
		case ":method":
			req.Method = v
		case ":path":
			req.Path = v
		case ":scheme":
			req.Scheme = v
		case ":authority":
			req.Authority = v
		default:
			req.Session.SetHeader(k, v)
		}
	}
}

// answer turns an outcome into the answer to the request headers: the
// route header (and the policy's headers) for Route, only the outcome's
// headers for Pass (a web UI token), an
// immediate response for Reject and Respond. remove lists headers a routed
// request loses.
func answer(req *admission.Request, o admission.Outcome, remove []string) *extprocv3.ProcessingResponse {
	switch o.Action {
	case admission.Route:
		mut := requestMutation(req, o, remove)
		mut.SetHeaders = append(mut.SetHeaders, setHeader(xds.RouteHeader, o.Target))
		r := continueHeaders(mut)
		if o.AddedPrepare != "" {
			// The route table adds it to the response (X-Trino-Added-Prepare).
			r.DynamicMetadata = &structpb.Struct{Fields: map[string]*structpb.Value{
				xds.MetadataNamespace: structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{
					xds.MetadataAddedPrepare: structpb.NewStringValue(o.AddedPrepare),
				}}),
			}}
		}
		return r
	case admission.Reject:
		r := o.Error.Render(req)
		return immediate(r, "switchyard_"+strings.ToLower(o.Error.Code.Name))
	case admission.Respond:
		return immediate(*o.Response, "switchyard_answered")
	}
	if mut := requestMutation(req, o, nil); len(mut.SetHeaders)+len(mut.RemoveHeaders) > 0 {
		return continueHeaders(mut)
	}
	return continueHeaders(nil)
}

// requestMutation is what a request that goes on carries: the outcome's
// headers, without remove and without the gateway's session entry.
func requestMutation(req *admission.Request, o admission.Outcome, remove []string) *extprocv3.HeaderMutation {
	mut := &extprocv3.HeaderMutation{RemoveHeaders: remove}
	for _, h := range o.Headers {
		mut.SetHeaders = append(mut.SetHeaders, setHeader(h.Name, h.Value))
	}
	stripGatewaySession(req, mut)
	return mut
}

// stripGatewaySession takes the gateway's session entry out of
// X-Trino-Prepared-Statement: the request goes on with the client's own
// prepared statements only (or without the header), so no coordinator
// ever sees the entry.
func stripGatewaySession(req *admission.Request, mut *extprocv3.HeaderMutation) {
	if !req.Session.StripPrepared {
		return
	}
	if len(req.Session.Prepared) == 0 {
		mut.RemoveHeaders = append(mut.RemoveHeaders, trino.HeaderPreparedStatement)
		return
	}
	mut.SetHeaders = append(mut.SetHeaders, setHeader(trino.HeaderPreparedStatement, strings.Join(req.Session.Prepared, ",")))
}

func immediate(r admission.Response, details string) *extprocv3.ProcessingResponse {
	return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ImmediateResponse{ImmediateResponse: &extprocv3.ImmediateResponse{
		Status:  &typev3.HttpStatus{Code: typev3.StatusCode(r.Status)},
		Headers: immediateHeaders(r),
		Body:    r.Body,
		Details: details,
	}}}
}

func immediateHeaders(r admission.Response) *extprocv3.HeaderMutation {
	mut := &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{setHeader("content-type", r.ContentType)}}
	seen := map[string]bool{}
	for _, h := range r.Headers {
		hv := setHeader(h.Name, h.Value)
		if seen[h.Name] { // a repeated header (WWW-Authenticate) keeps every value
			hv.AppendAction = corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD
		}
		seen[h.Name] = true
		mut.SetHeaders = append(mut.SetHeaders, hv)
	}
	return mut
}

var (
	bodyContinue         = &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestBody{RequestBody: &extprocv3.BodyResponse{}}}
	responseBodyContinue = &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseBody{ResponseBody: &extprocv3.BodyResponse{}}}
)

func one(r *extprocv3.ProcessingResponse) []*extprocv3.ProcessingResponse {
	if r == nil {
		return nil
	}
	return []*extprocv3.ProcessingResponse{r}
}

func continueHeaders(mut *extprocv3.HeaderMutation) *extprocv3.ProcessingResponse {
	hr := &extprocv3.HeadersResponse{}
	if mut != nil {
		hr.Response = &extprocv3.CommonResponse{HeaderMutation: mut, ClearRouteCache: len(mut.SetHeaders) > 0}
	}
	return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestHeaders{RequestHeaders: hr}}
}

func setHeader(k, v string) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{
		Header:       &corev3.HeaderValue{Key: k, RawValue: []byte(v)},
		AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
	}
}

func headerValue(h *corev3.HeaderValue) string {
	if h.GetValue() != "" {
		return h.GetValue()
	}
	return string(h.GetRawValue())
}

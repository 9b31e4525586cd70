package extproc

import (
	"context"
	"errors"
	"io"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/switchyard-gw/switchyard/pkg/admission"
	"github.com/switchyard-gw/switchyard/pkg/xds"
)

// maxAnswerBytes bounds the part of a coordinator's first answer the
// observer keeps (a first QueryResults is a few hundred bytes).
const maxAnswerBytes = 1 << 20

// observing: the stream is the answer observer's (Envoy's second ext_proc
// filter, in observability mode), as its gRPC metadata says.
func observing(ctx context.Context) bool {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get(xds.StreamRoleMetadata) {
		if v == xds.StreamRoleObserve {
			return true
		}
	}
	return false
}

// observe reads the side stream of one routed submission: the request as
// the coordinator got it (with the decision's ticket), its SQL when
// resubmission may need it, and the coordinator's answer. Envoy never
// waits for this stream, so nothing is answered: the follow-up (the
// query's owner, the session pin, the slot binding) is done while the
// client already reads its answer.
func (s *Server) observe(stream extprocv3.ExternalProcessor_ProcessServer) error {
	ctx := stream.Context()
	o := observation{s: s}
	// The stream may be closed as soon as the answer is through: the
	// follow-up's store writes must not be cut by it (each is bounded by
	// the store timeout).
	work := context.WithoutCancel(ctx)
	defer o.end(work)
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) || status.Code(err) == codes.Canceled {
			return nil
		}
		if err != nil {
			return err
		}
		o.step(work, req)
		if o.done {
			// Close the stream at once (the follow-up goes on in the
			// background): in observability mode Envoy holds it open
			// until the processor closes it or its
			// deferred_close_timeout ends, and thousands of streams held
			// open for seconds would fill Envoy's circuit breaker of the
			// observer's cluster.
			return nil
		}
	}
}

// observation is one observed submission.
type observation struct {
	s      *Server
	req    admission.Request
	f      admission.FollowUp
	ok     bool // the ticket was read
	sql    []byte
	answer []byte
	done   bool // the follow-up was done
}

func (o *observation) step(ctx context.Context, m *extprocv3.ProcessingRequest) {
	switch r := m.Request.(type) {
	case *extprocv3.ProcessingRequest_RequestHeaders:
		if o.ok || o.done {
			return
		}
		readHeaders(r.RequestHeaders, &o.req)
		ticket := ""
		for _, hv := range r.RequestHeaders.GetHeaders().GetHeaders() {
			if hv.GetKey() == xds.TicketHeader {
				ticket = headerValue(hv)
			}
		}
		if ticket == "" {
			// Nothing was decided (no replica answered the decision
			// filter, which failed open): nothing to follow up.
			o.done = true
			return
		}
		f, err := admission.DecodeFollowUp(ticket)
		if err != nil {
			o.done = true // nothing to follow up
			o.s.o.Logger.Warn("answer observer: a submission's ticket cannot be read; its owner is not recorded", "path", o.req.Path, "error", err)
			return
		}
		o.f, o.ok = f, true
	case *extprocv3.ProcessingRequest_RequestBody:
		if o.ok && len(o.sql)+len(r.RequestBody.GetBody()) <= o.s.o.MaxBodyBytes {
			o.sql = append(o.sql, r.RequestBody.GetBody()...)
		}
	case *extprocv3.ProcessingRequest_ResponseBody:
		if !o.ok || o.done {
			return
		}
		if b := r.ResponseBody.GetBody(); len(o.answer)+len(b) <= maxAnswerBytes {
			o.answer = append(o.answer, b...)
		}
		if r.ResponseBody.GetEndOfStream() {
			o.follow(ctx)
		}
	}
}

// follow does the follow-up with the answer read so far, in the
// background: the stream closes at once (Pipeline.ObservedLater).
func (o *observation) follow(ctx context.Context) {
	o.done = true
	o.req.Body = o.sql
	o.s.o.Pipeline.ObservedLater(ctx, o.f, &o.req, o.answer)
}

// end: a stream that ends before the whole answer came does the
// follow-up with what came (an answer ended by trailers), or frees what
// the submission held when nothing came.
func (o *observation) end(ctx context.Context) {
	switch {
	case !o.ok || o.done:
	case len(o.answer) > 0:
		o.follow(ctx)
	default:
		o.done = true
		o.s.o.Pipeline.Unanswered(ctx, o.f, &o.req)
	}
}

package extproc

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/switchyard-gw/switchyard/pkg/admission"
	"github.com/switchyard-gw/switchyard/pkg/config"
	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/health"
	"github.com/switchyard-gw/switchyard/pkg/metadata"
	"github.com/switchyard-gw/switchyard/pkg/policy"
	"github.com/switchyard-gw/switchyard/pkg/protection"
	"github.com/switchyard-gw/switchyard/pkg/routing"
	"github.com/switchyard-gw/switchyard/pkg/store"
)

type allHealthy struct{}

func (allHealthy) State(string) health.State { return health.Healthy }
func (allHealthy) Status(string) (health.Status, bool) {
	return health.Status{State: health.Healthy}, true
}

// benchServer serves a fleet of clusters as fleet.Build makes them, with
// the pipeline's options changed by each of with.
func benchServer(b *testing.B, clusters, sticky int, with ...func(*admission.Options)) *Server {
	f := &fleet.Fleet{DefaultGroup: "adhoc", Groups: []fleet.Group{{Name: "adhoc"}}}
	for i := range clusters {
		name := fmt.Sprintf("c%d", i)
		f.Clusters = append(f.Clusters, fleet.Cluster{Name: name, Group: "adhoc", State: fleet.Active,
			Coordinators: []fleet.Coordinator{{Name: "0", Scheme: "http", Host: "10.0.0.1", Port: 8080, Key: fleet.Key(name, "0")}}})
	}
	mem := store.NewMemory()
	st := mem.Queries
	for i := range sticky {
		_ = st.PutQuery(context.Background(), fmt.Sprintf("20260101_000000_%05d_bench", i), store.QueryRoute{Cluster: "c0", Coordinator: "0"}, time.Hour)
	}
	// As the server runs it: read-only submissions kept for resubmission
	// (config routing.resubmission defaults).
	o := admission.Options{Router: routing.New(f, allHealthy{}), Queries: st, QueryTTL: time.Hour, StoreTimeout: time.Second,
		Replays: mem.Replays, ReplayMaxBytes: config.Defaults().Routing.Resubmission.MaxQueryBytes}
	for _, w := range with {
		w(&o)
	}
	return New(Options{Pipeline: admission.New(o), MaxBodyBytes: 1 << 20})
}

// exchange plays one stream's messages, as Process does without gRPC.
func exchange(b testing.TB, srv *Server, msgs ...*extprocv3.ProcessingRequest) [][]*extprocv3.ProcessingResponse {
	ctx := context.Background()
	var st streamState
	out := make([][]*extprocv3.ProcessingResponse, len(msgs))
	for i, m := range msgs {
		r, err := srv.step(ctx, &st, m)
		if err != nil {
			b.Fatal(err)
		}
		out[i] = r
	}
	return out
}

func reqHeaders(method, path string) *extprocv3.ProcessingRequest {
	hs := []*corev3.HeaderValue{
		{Key: ":method", RawValue: []byte(method)}, {Key: ":path", RawValue: []byte(path)},
		{Key: ":scheme", RawValue: []byte("http")}, {Key: ":authority", RawValue: []byte("gw:8080")},
		{Key: "x-trino-user", RawValue: []byte("alice")}, {Key: "x-trino-source", RawValue: []byte("bench")},
		{Key: "user-agent", RawValue: []byte("trino-cli")}, {Key: "accept-encoding", RawValue: []byte("gzip")},
	}
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestHeaders{RequestHeaders: &extprocv3.HttpHeaders{Headers: &corev3.HeaderMap{Headers: hs}, EndOfStream: method != "POST"}}}
}

// BenchmarkSubmitDecision is the whole decision for one submission (headers,
// a 4 KB SQL body, the first QueryResults recorded in the memory store),
// in-process: the gRPC round trips Envoy adds are not included.
func BenchmarkSubmitDecision(b *testing.B) {
	sql := "SELECT " + strings.Repeat("l_quantity + l_extendedprice, ", 4096/31) + "1 FROM tpch.sf1.lineitem"
	first := []byte(`{"id":"20260101_000000_00001_abcde","infoUri":"http://gw:8080/_sy/c0/0/ui/query.html?20260101_000000_00001_abcde","nextUri":"http://gw:8080/_sy/c0/0/v1/statement/queued/20260101_000000_00001_abcde/y1/1","stats":{"state":"QUEUED"}}`)
	for _, clusters := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("clusters=%d", clusters), func(b *testing.B) {
			srv := benchServer(b, clusters, 0)
			h := reqHeaders("POST", "/v1/statement")
			body := &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestBody{RequestBody: &extprocv3.HttpBody{Body: []byte(sql), EndOfStream: true}}}
			resp := &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseBody{ResponseBody: &extprocv3.HttpBody{Body: first, EndOfStream: true}}}
			b.ReportAllocs()
			for b.Loop() {
				exchange(b, srv, h, body, resp)
			}
		})
	}
}

// BenchmarkPolicyDecision is the whole decision with the shipped policy
// (classification of a 4 KB SQL text, OPA evaluation, cluster pick),
// in-process.
func BenchmarkPolicyDecision(b *testing.B) {
	for _, clusters := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("clusters=%d", clusters), func(b *testing.B) { benchPolicySubmission(b, clusters, false) })
	}
}

// BenchmarkPolicySubmission is all ext_proc does for one submission: the
// decision, then the first QueryResults read and the query recorded in the
// store and the decision log.
func BenchmarkPolicySubmission(b *testing.B) {
	b.Run("clusters=10", func(b *testing.B) { benchPolicySubmission(b, 10, true) })
}

// BenchmarkProtectionDecision is BenchmarkPolicyDecision (10 clusters)
// with and without query protection: without, the shipped policies less
// protection.rego and watchdog.rego; with, the shipped policies and the
// guard (table metadata from the policy data through the catalog, the
// fingerprint, the incidents of the memory store).
func BenchmarkProtectionDecision(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("protection=%v", on), func(b *testing.B) {
			bundle, err := policy.LoadDir("../../policies")
			if err != nil {
				b.Fatal(err)
			}
			if !on {
				for _, f := range []string{"protection.rego", "protection_test.rego", "watchdog.rego", "watchdog_test.rego"} {
					delete(bundle.Files, f)
				}
			}
			c, err := policy.Compile(context.Background(), bundle)
			if err != nil {
				b.Fatal(err)
			}
			var guard *protection.Guard
			if on {
				tables := c.Tables
				cat := metadata.New(metadata.Options{Sources: []metadata.Source{&metadata.PolicyData{Tables: func() map[string]map[string]any {
					out := map[string]map[string]any{}
					for k, v := range tables {
						out[k], _ = v.(map[string]any)
					}
					return out
				}}}})
				b.Cleanup(cat.Close)
				guard = protection.New(protection.Options{Catalog: cat, Store: store.NewMemory().Protection})
			}
			benchPolicyWith(b, 10, false, c, func(o *admission.Options) { o.Protection = guard })
		})
	}
}

func benchPolicySubmission(b *testing.B, clusters int, record bool) {
	bundle, err := policy.LoadDir("../../policies")
	if err != nil {
		b.Fatal(err)
	}
	c, err := policy.Compile(context.Background(), bundle)
	if err != nil {
		b.Fatal(err)
	}
	benchPolicyWith(b, clusters, record, c)
}

func benchPolicyWith(b *testing.B, clusters int, record bool, c *policy.Compiled, with ...func(*admission.Options)) {
	sql := "WITH recent AS (SELECT o.orderkey, o.custkey, o.totalprice FROM tpch.sf1.orders o WHERE o.orderdate > DATE '1998-01-01') " +
		"SELECT c.name, sum(r.totalprice) FROM recent r JOIN tpch.sf1.supplier c ON c.suppkey = r.custkey " +
		"JOIN tpch.sf1.nation n ON n.nationkey = c.nationkey WHERE n.name IN (" + strings.Repeat("'GERMANY', ", 300) + "'FRANCE') GROUP BY c.name ORDER BY 2 DESC LIMIT 10"
	first := []byte(`{"id":"20260101_000000_00001_abcde","infoUri":"http://gw:8080/_sy/c0/0/ui/query.html?20260101_000000_00001_abcde","nextUri":"http://gw:8080/_sy/c0/0/v1/statement/queued/20260101_000000_00001_abcde/y1/1","stats":{"state":"QUEUED"}}`)
	srv := benchServer(b, clusters, 0, append([]func(*admission.Options){func(o *admission.Options) {
		o.Policy = policy.NewEngine(c, nil)
		o.Decisions = policy.NewDecisionLog(1000)
		o.Health = allHealthy{}
		o.Logger = slog.New(slog.DiscardHandler)
	}}, with...)...)
	h := reqHeaders("POST", "/v1/statement")
	body := &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestBody{RequestBody: &extprocv3.HttpBody{Body: []byte(sql), EndOfStream: true}}}
	resp := &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseBody{ResponseBody: &extprocv3.HttpBody{Body: first, EndOfStream: true}}}
	b.SetBytes(int64(len(sql)))
	b.ReportAllocs()
	msgs := []*extprocv3.ProcessingRequest{h, body}
	if record {
		msgs = append(msgs, resp)
	}
	for b.Loop() {
		if r := exchange(b, srv, msgs...)[1]; len(r) == 0 || r[0].GetImmediateResponse() != nil {
			b.Fatalf("not routed: %v", r)
		}
	}
}

// BenchmarkStickyLookup routes an unprefixed follow-up through the store
// holding 10,000 live entries.
func BenchmarkStickyLookup(b *testing.B) {
	srv := benchServer(b, 10, 10000)
	h := reqHeaders("GET", "/v1/statement/executing/20260101_000000_04242_bench/y1/3")
	b.ReportAllocs()
	for b.Loop() {
		if r := exchange(b, srv, h)[0]; len(r) != 1 || r[0].GetImmediateResponse() != nil {
			b.Fatal("lookup rejected")
		}
	}
}

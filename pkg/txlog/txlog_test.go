package txlog

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	alsdatav3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"google.golang.org/grpc"

	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/store"
)

type fakeStream struct {
	grpc.ServerStream
	msgs []*accesslogv3.StreamAccessLogsMessage
}

func (f *fakeStream) Context() context.Context { return context.Background() }
func (f *fakeStream) Recv() (*accesslogv3.StreamAccessLogsMessage, error) {
	if len(f.msgs) == 0 {
		return nil, io.EOF
	}
	m := f.msgs[0]
	f.msgs = f.msgs[1:]
	return m, nil
}
func (f *fakeStream) SendAndClose(*accesslogv3.StreamAccessLogsResponse) error { return nil }

func entry(txn, cluster, addr string, port uint32) *alsdatav3.HTTPAccessLogEntry {
	e := &alsdatav3.HTTPAccessLogEntry{
		CommonProperties: &alsdatav3.AccessLogCommon{
			UpstreamCluster: cluster,
			UpstreamRemoteAddress: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
				Address: addr, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
			}}},
		},
		Response: &alsdatav3.HTTPResponseProperties{ResponseHeaders: map[string]string{}},
	}
	if txn != "" {
		e.Response.ResponseHeaders[StartedHeader] = txn
	}
	return e
}

func TestRecordsTransactions(t *testing.T) {
	f := &fleet.Fleet{Clusters: []fleet.Cluster{
		{Name: "a", Coordinators: []fleet.Coordinator{{Name: "0", Host: "10.0.0.1", Port: 8080}}},
		{Name: "b", Coordinators: []fleet.Coordinator{{Name: "x", Host: "10.0.0.2", Port: 8080}, {Name: "y", Host: "10.0.0.3", Port: 8080}}},
	}}
	st := store.NewMemory().Queries
	s := &Service{Store: st, TTL: time.Hour, Logger: slog.New(slog.DiscardHandler),
		Resolve: FleetResolver(func() *fleet.Fleet { return f }, func(c, k string) string { return "trino_" + c + "_" + k })}
	stream := &fakeStream{msgs: []*accesslogv3.StreamAccessLogsMessage{{
		LogEntries: &accesslogv3.StreamAccessLogsMessage_HttpLogs{HttpLogs: &accesslogv3.StreamAccessLogsMessage_HTTPAccessLogEntries{LogEntry: []*alsdatav3.HTTPAccessLogEntry{
			entry("t1", "trino_b_x", "10.0.0.2", 8080),        // by coordinator cluster
			entry("t2", "trino_b_failover", "10.0.0.3", 8080), // by address
			entry("", "trino_a_0", "10.0.0.1", 8080),          // no transaction
			entry("t3", "elsewhere", "10.9.9.9", 1),           // unknown: skipped
		}}},
	}}}
	if err := s.StreamAccessLogs(stream); err != nil {
		t.Fatal(err)
	}
	for txn, want := range map[string]string{"t1": "b/x", "t2": "b/y"} {
		r, err := st.GetTransaction(context.Background(), txn)
		if err != nil || r.String() != want {
			t.Errorf("%s: %v %v, want %s", txn, r, err, want)
		}
	}
	if _, err := st.GetTransaction(context.Background(), "t3"); err == nil {
		t.Error("an unknown coordinator's transaction was recorded")
	}
	if s.Recorded.Load() != 2 {
		t.Errorf("recorded %d", s.Recorded.Load())
	}
}

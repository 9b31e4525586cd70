// Package txlog learns where Trino transactions live. A transaction is
// only known to the coordinator that started it, and that coordinator names
// it in the X-Trino-Started-Transaction-Id header of the response that ends
// the START TRANSACTION statement: a poll, which Envoy routes by path
// without asking the control plane. Envoy reports just those responses
// through its gRPC access log (filtered by a CEL expression); this service
// records transaction -> coordinator in the shared store, so the
// transaction's next statements reach the same coordinator from any Envoy.
package txlog

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/switchyard-gw/switchyard/pkg/fleet"
	"github.com/switchyard-gw/switchyard/pkg/store"
)

// StartedHeader is the response header that names a new transaction.
const StartedHeader = "x-trino-started-transaction-id"

// Resolver maps an Envoy cluster name and upstream address to a
// coordinator.
type Resolver func(envoyCluster, upstreamAddr string) (store.QueryRoute, bool)

// Service implements envoy.service.accesslog.v3.AccessLogService.
type Service struct {
	accesslogv3.UnimplementedAccessLogServiceServer
	Store   store.Queries
	Resolve Resolver
	TTL     time.Duration
	Logger  *slog.Logger
	// Recorded counts transactions recorded (for tests and metrics).
	Recorded atomic.Int64
}

// Register adds the service to a gRPC server.
func (s *Service) Register(g *grpc.Server) { accesslogv3.RegisterAccessLogServiceServer(g, s) }

// StreamAccessLogs receives Envoy's access log entries.
func (s *Service) StreamAccessLogs(stream accesslogv3.AccessLogService_StreamAccessLogsServer) error {
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) || status.Code(err) == codes.Canceled {
			return nil
		}
		if err != nil {
			return err
		}
		for _, e := range msg.GetHttpLogs().GetLogEntry() {
			txn := e.GetResponse().GetResponseHeaders()[StartedHeader]
			if txn == "" {
				continue
			}
			cp := e.GetCommonProperties()
			addr := ""
			if sa := cp.GetUpstreamRemoteAddress().GetSocketAddress(); sa != nil {
				addr = sa.GetAddress() + ":" + itoa(sa.GetPortValue())
			}
			r, ok := s.Resolve(cp.GetUpstreamCluster(), addr)
			if !ok {
				s.Logger.Warn("transaction started on an unknown coordinator", "transaction", txn, "envoy_cluster", cp.GetUpstreamCluster(), "upstream", addr)
				continue
			}
			ctx, cancel := context.WithTimeout(stream.Context(), 2*time.Second)
			err := s.Store.PutTransaction(ctx, txn, r, s.TTL)
			cancel()
			if err != nil {
				s.Logger.Error("recording a transaction failed", "transaction", txn, "owner", r.String(), "error", err)
				continue
			}
			s.Recorded.Add(1)
			s.Logger.Info("transaction started", "transaction", txn, "owner", r.String())
		}
	}
}

func itoa(v uint32) string {
	var b [10]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(b[i:])
		}
	}
}

// FleetResolver resolves against the current fleet: Envoy's coordinator
// clusters name the coordinator; otherwise the upstream address does.
func FleetResolver(current func() *fleet.Fleet, clusterName func(c, k string) string) Resolver {
	return func(envoyCluster, addr string) (store.QueryRoute, bool) {
		f := current()
		for _, c := range f.Clusters {
			for _, co := range c.Coordinators {
				if clusterName(c.Name, co.Name) == envoyCluster {
					return store.QueryRoute{Cluster: c.Name, Coordinator: co.Name}, true
				}
			}
		}
		for _, c := range f.Clusters {
			for _, co := range c.Coordinators {
				if co.Host+":"+itoa(co.Port) == addr {
					return store.QueryRoute{Cluster: c.Name, Coordinator: co.Name}, true
				}
			}
		}
		return store.QueryRoute{}, false
	}
}

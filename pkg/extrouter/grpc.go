package extrouter

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	routerv1 "github.com/switchyard-gw/switchyard/proto/switchyard/router/v1"
)

type grpcClient struct {
	conn    *grpc.ClientConn
	c       routerv1.RouterServiceClient
	timeout time.Duration
}

func newGRPC(addr string, timeout time.Duration) (*grpcClient, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxAnswerBytes)))
	if err != nil {
		return nil, fmt.Errorf("external router %s: %w", addr, err)
	}
	return &grpcClient{conn: conn, c: routerv1.NewRouterServiceClient(conn), timeout: timeout}, nil
}

func (g *grpcClient) Route(ctx context.Context, r *Request) (*Response, error) {
	ctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	resp, err := g.c.Route(ctx, &routerv1.RouteRequest{
		User: r.User, Source: r.Source, ClientTags: r.ClientTags, Catalog: r.Catalog, Schema: r.Schema,
		RoutingGroup: r.RoutingGroup, RemoteAddress: r.RemoteAddress, Sql: r.SQL, QueryType: r.QueryType,
		Tables: r.Tables, Headers: r.Headers,
	})
	if err != nil {
		return nil, fmt.Errorf("external router: %w", err)
	}
	return fromProto(resp)
}

func (g *grpcClient) Close() error { return g.conn.Close() }

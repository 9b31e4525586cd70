// Package extrouter asks an external routing service for a query's routing
// group: a gRPC service (proto/switchyard/router/v1) or an HTTP JSON one
// compatible in shape with Trino Gateway's external routing service. The
// answer feeds the routing policy; a failure, a timeout or an answer that
// cannot be used (malformed, larger than MaxAnswerBytes, or with headers
// that are not valid HTTP) falls back to deciding without it (or refuses
// the query, if so configured).
package extrouter

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Request describes a query submission.
type Request struct {
	User, Source, Catalog, Schema, RoutingGroup, RemoteAddress string
	ClientTags                                                 []string
	SQL, QueryType                                             string
	Tables                                                     []string
	Headers                                                    map[string]string
}

// Response is the service's decision.
type Response struct {
	RoutingGroup string            `json:"routingGroup"`
	Errors       []string          `json:"errors"`
	Headers      map[string]string `json:"externalHeaders"`
}

// Client asks the service.
type Client interface {
	Route(ctx context.Context, r *Request) (*Response, error)
	Close() error
}

// New returns a client for a grpc://host:port or http(s)://... URL.
func New(rawURL string, timeout time.Duration) (Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("external router URL %q: want grpc://host:port or http(s)://host/path", rawURL)
	}
	switch strings.ToLower(u.Scheme) {
	case "grpc":
		return newGRPC(u.Host, timeout)
	case "http", "https":
		return newHTTP(rawURL, timeout), nil
	}
	return nil, fmt.Errorf("external router URL %q: scheme must be grpc, http or https", rawURL)
}

package extrouter

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// httpClient speaks the JSON shape of Trino Gateway's external routing
// service: a POST with the request's properties (and its X-Trino headers as
// HTTP headers), answered by {routingGroup, errors, externalHeaders}.
type httpClient struct {
	url     string
	timeout time.Duration
	c       *http.Client
}

func newHTTP(url string, timeout time.Duration) *httpClient {
	return &httpClient{url: url, timeout: timeout, c: &http.Client{Timeout: timeout}}
}

// tgBody is Trino Gateway's RoutingGroupExternalBody.
type tgBody struct {
	TrinoQueryProperties tgQueryProperties `json:"trinoQueryProperties"`
	TrinoRequestUser     map[string]string `json:"trinoRequestUser"`
	ContentType          string            `json:"contentType"`
	RemoteUser           string            `json:"remoteUser"`
	Method               string            `json:"method"`
	RequestURI           string            `json:"requestURI"`
	QueryString          string            `json:"queryString"`
	RemoteAddr           string            `json:"remoteAddr"`
	RemoteHost           string            `json:"remoteHost"`
	Parameters           map[string]any    `json:"parameters"`
}

type tgQueryProperties struct {
	Body                 string   `json:"body"`
	QueryType            string   `json:"queryType"`
	Tables               []string `json:"tables"`
	DefaultCatalog       string   `json:"defaultCatalog,omitempty"`
	DefaultSchema        string   `json:"defaultSchema,omitempty"`
	Catalogs             []string `json:"catalogs"`
	Schemas              []string `json:"schemas"`
	CatalogSchemas       []string `json:"catalogSchemas"`
	IsNewQuerySubmission bool     `json:"isNewQuerySubmission"`
}

func (h *httpClient) Route(ctx context.Context, r *Request) (*Response, error) {
	catalogs, schemas, catalogSchemas := parts(r.Tables)
	body := tgBody{
		TrinoQueryProperties: tgQueryProperties{
			Body: r.SQL, QueryType: r.QueryType, Tables: nonNil(r.Tables), DefaultCatalog: r.Catalog, DefaultSchema: r.Schema,
			Catalogs: catalogs, Schemas: schemas, CatalogSchemas: catalogSchemas, IsNewQuerySubmission: true,
		},
		TrinoRequestUser: map[string]string{"user": r.User},
		ContentType:      "text/plain", RemoteUser: r.User, Method: http.MethodPost, RequestURI: "/v1/statement",
		RemoteAddr: r.RemoteAddress, RemoteHost: r.RemoteAddress, Parameters: map[string]any{},
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range r.Headers {
		if strings.HasPrefix(strings.ToLower(k), "x-trino-") {
			req.Header.Set(k, v)
		}
	}
	resp, err := h.c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("external router: %w", err)
	}
	defer resp.Body.Close()
	return decodeHTTPAnswer(resp.StatusCode, resp.Body)
}

func (h *httpClient) Close() error { h.c.CloseIdleConnections(); return nil }

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// parts lists the catalogs, schemas and catalog.schema pairs of tables.
func parts(tables []string) (catalogs, schemas, catalogSchemas []string) {
	seen := map[string]bool{}
	add := func(list *[]string, v string) {
		if !seen[v] {
			seen[v] = true
			*list = append(*list, v)
		}
	}
	catalogs, schemas, catalogSchemas = []string{}, []string{}, []string{}
	for _, t := range tables {
		p := strings.SplitN(t, ".", 3)
		if len(p) != 3 {
			continue
		}
		add(&catalogs, "c:"+p[0])
		add(&schemas, "s:"+p[1])
		add(&catalogSchemas, "cs:"+p[0]+"."+p[1])
	}
	for _, l := range []*[]string{&catalogs, &schemas, &catalogSchemas} {
		for i, v := range *l {
			_, (*l)[i], _ = strings.Cut(v, ":")
		}
	}
	return catalogs, schemas, catalogSchemas
}

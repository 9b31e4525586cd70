package metadata

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode"
)

// Defaults of OpenMetadata.
const (
	DefaultOpenMetadataParallel = 4
	// DefaultOpenMetadataMaxResponseBytes bounds one answer.
	DefaultOpenMetadataMaxResponseBytes = 4 << 20
)

// OpenMetadata answers from an OpenMetadata catalog's table API (see the
// package documentation for the versions): tags, owner and, when the
// profiler ran, the row count and size.
type OpenMetadata struct {
	// BaseURL is the server, e.g. http://openmetadata:8585 (the API is
	// under /api/v1).
	BaseURL string
	// Token, when set, is sent as "Authorization: Bearer <token>" (a bot's
	// JWT). It is never logged.
	Token string
	// Services maps a Trino catalog to the OpenMetadata database service
	// its tables were ingested under (default: the catalog name).
	Services map[string]string
	// Databases maps a Trino catalog to the OpenMetadata database that
	// holds its schemas (default: the catalog name, as OpenMetadata's
	// Trino connector models a catalog).
	Databases map[string]string
	// OwnerField is the owner field asked for: "owners" (default,
	// OpenMetadata 1.5 and later) or "owner" (earlier versions, which
	// refuse "owners"). Both answer shapes are read either way.
	OwnerField string
	// Profile also asks for the latest table profile
	// (GET /api/v1/tables/{fqn}/tableProfile/latest), which carries the
	// row count and size when the profiler ran; the table API itself does
	// not return the profile. Needs the VIEW_DATA_PROFILE permission. A
	// failed profile request leaves rows and bytes unknown and is
	// reported as an error; the tags and owner are still used.
	Profile bool
	// HTTP sends the requests (default: a client that does not follow
	// redirects, so the token goes nowhere else). The lookup's context
	// bounds each request.
	HTTP *http.Client
	// Parallel bounds the requests one lookup sends at once (default 4).
	Parallel int
	// MaxResponseBytes bounds each answer (default 4 MiB).
	MaxResponseBytes int64
}

// Name is "openmetadata".
func (o *OpenMetadata) Name() string { return "openmetadata" }

// errNotFound is a 404: OpenMetadata does not know the table.
var errNotFound = errors.New("not found")

// Lookup asks for each table, Parallel at a time. A 404 means the table is
// absent; another answer than 2xx is an error for that table.
func (o *OpenMetadata) Lookup(ctx context.Context, tables []string) (map[string]Table, error) {
	if o.BaseURL == "" {
		return nil, errors.New("openmetadata: no base URL configured")
	}
	parallel := o.Parallel
	if parallel <= 0 {
		parallel = DefaultOpenMetadataParallel
	}
	return eachTable(ctx, tables, parallel, o.table)
}

// FQN is the OpenMetadata fully qualified name of a Trino table:
// service.database.schema.table, each part quoted as OpenMetadata quotes
// it. ok is false for a name that is not catalog.schema.table.
func (o *OpenMetadata) FQN(table string) (fqn string, ok bool) {
	parts, ok := splitName(table)
	if !ok {
		return "", false
	}
	return strings.Join(o.fqnParts(parts), "."), true
}

func (o *OpenMetadata) fqnParts(p [3]string) []string {
	service, database := p[0], p[0]
	if s := o.Services[p[0]]; s != "" {
		service = s
	}
	if d := o.Databases[p[0]]; d != "" {
		database = d
	}
	return []string{omQuote(service), omQuote(database), omQuote(p[1]), omQuote(p[2])}
}

// table asks for one table (and its profile when configured).
func (o *OpenMetadata) table(ctx context.Context, p [3]string) (Table, bool, error) {
	parts := o.fqnParts(p)
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	fqn := strings.Join(parts, ".")
	owner := o.OwnerField
	if owner == "" {
		owner = "owners"
	}
	var ans omTable
	err := o.get(ctx, "/api/v1/tables/name/"+fqn+"?fields="+url.QueryEscape("tags,"+owner), &ans)
	if errors.Is(err, errNotFound) {
		return Table{}, false, nil
	}
	if err != nil {
		return Table{}, false, err
	}
	t := ans.table()
	if o.Profile && ans.Profile == nil {
		var prof omTable
		err := o.get(ctx, "/api/v1/tables/"+fqn+"/tableProfile/latest?includeColumnProfile=false", &prof)
		switch {
		case errors.Is(err, errNotFound): // no profile
		case err != nil:
			return t, true, fmt.Errorf("the table profile: %w", err)
		default:
			prof.Profile.into(&t)
		}
	}
	return t, true, nil
}

// get reads a JSON answer into out; a 404 is errNotFound.
func (o *OpenMetadata) get(ctx context.Context, path string, out any) error {
	u := strings.TrimRight(o.BaseURL, "/") + path
	endpoint, _, _ := strings.Cut(path, "?")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("GET %s: %w", endpoint, err)
	}
	req.Header.Set("Accept", "application/json")
	if o.Token != "" {
		req.Header.Set("Authorization", "Bearer "+o.Token)
	}
	client := o.HTTP
	if client == nil {
		client = noRedirects
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) { // its message repeats the URL
			err = ue.Err
		}
		return fmt.Errorf("GET %s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return errNotFound
	}
	limit := o.MaxResponseBytes
	if limit <= 0 {
		limit = DefaultOpenMetadataMaxResponseBytes
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("GET %s: HTTP %d: %s", endpoint, resp.StatusCode, excerpt(b))
	}
	if err != nil {
		return fmt.Errorf("GET %s: reading the answer: %w", endpoint, err)
	}
	if int64(len(b)) > limit {
		return fmt.Errorf("GET %s: the answer is larger than %d bytes", endpoint, limit)
	}
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(out); err != nil {
		return fmt.Errorf("GET %s: decoding the answer: %w", endpoint, err)
	}
	return nil
}

// noRedirects is the default client: an OpenMetadata API answer is never a
// redirect worth following with a token.
var noRedirects = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// excerpt is a short one-line start of a body, for messages.
func excerpt(b []byte) string {
	const limit = 200
	cut := len(b) > limit
	if cut {
		b = b[:limit]
	}
	s := strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(string(b), "?"))
	s = strings.Join(strings.Fields(s), " ")
	if cut {
		s += "..."
	}
	return s
}

// omTable is the part of OpenMetadata's Table entity that is read.
type omTable struct {
	FullyQualifiedName string       `json:"fullyQualifiedName"`
	Tags               []omTagLabel `json:"tags"`
	Owners             []omRef      `json:"owners"` // 1.5 and later
	Owner              *omRef       `json:"owner"`  // before 1.5
	Profile            *omProfile   `json:"profile"`
}

// omTagLabel is a TagLabel (a classification tag or a glossary term).
type omTagLabel struct {
	TagFQN string `json:"tagFQN"`
}

// omRef is an EntityReference (a user or a team, for owners).
type omRef struct {
	Name        string `json:"name"`
	DisplayName string `json:"displayName"`
	Type        string `json:"type"`
	Deleted     bool   `json:"deleted"`
}

// omProfile is the TableProfile: rowCount always counts the whole table;
// sizeInByte is the table's size (recent schemas say bytes, as the name
// does).
type omProfile struct {
	RowCount   *float64 `json:"rowCount"`
	SizeInByte *float64 `json:"sizeInByte"`
}

func (p *omProfile) into(t *Table) {
	if p == nil {
		return
	}
	if p.RowCount != nil {
		t.Rows, t.RowsKnown = number(*p.RowCount)
	}
	if p.SizeInByte != nil {
		t.Bytes, t.BytesKnown = number(*p.SizeInByte)
	}
}

// table converts the answer: the tags' FQNs, the first owner that is not
// deleted (its name, else its display name), the profile's numbers.
func (a *omTable) table() Table {
	var t Table
	for _, tag := range a.Tags {
		if tag.TagFQN != "" {
			t.Tags = append(t.Tags, tag.TagFQN)
		}
	}
	owners := a.Owners
	if a.Owner != nil {
		owners = append(owners, *a.Owner)
	}
	for _, r := range owners {
		if r.Deleted {
			continue
		}
		if t.Owner = r.Name; t.Owner == "" {
			t.Owner = r.DisplayName
		}
		if t.Owner != "" {
			break
		}
	}
	a.Profile.into(&t)
	return t
}

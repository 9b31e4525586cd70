package policy

import (
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// The input is built directly as an OPA value: converting a Go map through
// reflection on every request costs more than evaluating the policy, and
// the fleet part only changes with the fleet (FleetValue caches it).

// str returns a string term: shared for the input's own keys and for the
// strings OPA interns (terms are immutable), a new one otherwise.
func str(s string) *ast.Term {
	if t, ok := keyTerms[s]; ok {
		return t
	}
	return ast.InternedTerm(s)
}

// keyTerms are the input document's keys (and the decisions'), built once.
var keyTerms = func() map[string]*ast.Term {
	m := map[string]*ast.Term{}
	for _, k := range []string{
		"defaultGroup", "groups", "clusters", "strategy", "group", "state", "healthy", "tags", "weight", "load", "running", "queued",
		"type", "tables", "tableInfo", "crossJoin", "hasWhere", "hasLimit", "explain", "innerType", "unresolved", "length", "cost",
		"external", "routingGroup", "headers", "errors", "version", "request", "user", "source", "clientTags", "clientInfo",
		"catalog", "schema", "session", "transactionId", "remoteAddress", "method", "path", "query", "fleet", "time",
		"unix", "rfc3339", "weekday", "hour", "clientSession", "id", "principal",
		"blocks", "fullScans", "fingerprint", "incidents", "inputs", "where", "limit", "kind", "reason", "errorName",
		"queryId", "cluster", "until",
		"SELECT", "POST", "/v1/statement", "",
		// The decisions' keys (field).
		"allow", "class", "explanation", "deny", "dryRun", "rules", "caps", "actions", "reportOnly", "action", "rule", "for", "maxRunning",
	} {
		m[k] = ast.StringTerm(k)
	}
	return m
}()

// Empty lists and maps are OPA's shared empty values (terms are immutable).
func strList(in []string) *ast.Term { return (*names)(nil).list(in) }

// names makes string terms, one per distinct string of an input: the
// table names of a query recur in its tables, blocks and full scans.
type names []*ast.Term

func (n *names) term(s string) *ast.Term {
	if n == nil {
		return ast.StringTerm(s)
	}
	for _, t := range *n {
		if string(t.Value.(ast.String)) == s {
			return t
		}
	}
	t := ast.StringTerm(s)
	if len(*n) < 32 {
		*n = append(*n, t)
	}
	return t
}

func (n *names) list(in []string) *ast.Term {
	if len(in) == 0 {
		return ast.InternedEmptyArray
	}
	ts := make([]*ast.Term, len(in))
	for i, s := range in {
		ts[i] = n.term(s)
	}
	return ast.ArrayTerm(ts...)
}

func strMap(in map[string]string) *ast.Term {
	if len(in) == 0 {
		return ast.InternedEmptyObject
	}
	o := ast.NewObject()
	for k, v := range in {
		o.Insert(ast.StringTerm(k), ast.StringTerm(v))
	}
	return ast.NewTerm(o)
}

// FleetValue is the fleet as an OPA value, built once per fleet view.
type FleetValue struct{ term *ast.Term }

// NewFleetValue converts a FleetInfo.
func NewFleetValue(f FleetInfo) FleetValue {
	groups := ast.NewObject()
	for name, g := range f.Groups {
		groups.Insert(str(name), ast.ObjectTerm(
			ast.Item(str("clusters"), strList(g.Clusters)),
			ast.Item(str("strategy"), str(g.Strategy)),
		))
	}
	clusters := ast.NewObject()
	for name, c := range f.Clusters {
		clusters.Insert(str(name), ast.ObjectTerm(
			ast.Item(str("group"), str(c.Group)),
			ast.Item(str("state"), str(c.State)),
			ast.Item(str("healthy"), ast.InternedTerm(c.Healthy)),
			ast.Item(str("tags"), strList(c.Tags)),
			ast.Item(str("weight"), ast.InternedTerm(c.Weight)),
			ast.Item(str("load"), ast.ObjectTerm(
				ast.Item(str("running"), ast.InternedTerm(c.Running)),
				ast.Item(str("queued"), ast.InternedTerm(c.Queued)),
			)),
		))
	}
	return FleetValue{term: ast.ObjectTerm(
		ast.Item(str("defaultGroup"), str(f.DefaultGroup)),
		ast.Item(str("groups"), ast.NewTerm(groups)),
		ast.Item(str("clusters"), ast.NewTerm(clusters)),
	)}
}

// astValue renders the input once (the routing and the protection policy
// read the same); fleet is the cached fleet value (built from
// in.Fleet when nil).
func (in *Input) astValue(fleet *FleetValue) ast.Value {
	if in.value == nil {
		in.value = in.buildValue(fleet)
	}
	return in.value
}

// buildValue converts the input.
func (in *Input) buildValue(fleet *FleetValue) ast.Value {
	if fleet == nil || fleet.term == nil {
		fv := NewFleetValue(in.Fleet)
		fleet = &fv
	}
	tables := &names{}
	if n := len(in.Query.Tables); n > 0 && n <= 16 {
		*tables = make(names, 0, n)
	} else {
		tables = nil // no repeats worth looking for
	}
	tableInfo := ast.NewObject()
	for k, v := range in.Query.TableInfo {
		if t, err := ast.InterfaceToValue(v); err == nil {
			tableInfo.Insert(str(k), ast.NewTerm(t))
		}
	}
	q := []*ast.Term{
		str("type"), str(in.Query.Type),
		str("tables"), tables.list(in.Query.Tables),
		str("tableInfo"), ast.NewTerm(tableInfo),
		str("crossJoin"), ast.InternedTerm(in.Query.CrossJoin),
		str("hasWhere"), ast.InternedTerm(in.Query.HasWhere),
		str("hasLimit"), ast.InternedTerm(in.Query.HasLimit),
		str("explain"), str(in.Query.Explain),
		str("innerType"), str(in.Query.InnerType),
		str("unresolved"), strList(in.Query.Unresolved),
		str("length"), ast.InternedTerm(in.Query.Length),
	}
	q = append(q,
		str("blocks"), blocksTerm(in.Query.Blocks, tables),
		str("fullScans"), tables.list(in.Query.FullScans),
		str("fingerprint"), str(in.Query.Fingerprint),
		str("incidents"), incidentsTerm(in.Query.Incidents),
	)
	if in.Query.Cost != nil {
		if c, err := ast.InterfaceToValue(in.Query.Cost); err == nil {
			q = append(q, str("cost"), ast.NewTerm(c))
		}
	}
	r := in.Request
	t := in.Time.UTC()
	ext := ast.InternedEmptyObject
	if e := in.External; e != nil {
		ext = ast.ObjectTerm(
			ast.Item(str("routingGroup"), str(e.RoutingGroup)),
			ast.Item(str("headers"), strMap(e.Headers)),
			ast.Item(str("errors"), strList(e.Errors)),
		)
	}
	cs := ast.InternedEmptyObject
	if c := in.ClientSession; c != nil {
		cs = ast.ObjectTerm(
			ast.Item(str("id"), str(c.ID)),
			ast.Item(str("source"), str(c.Source)),
			ast.Item(str("clusters"), strMap(c.Clusters)),
		)
	}
	return ast.NewObject(
		[2]*ast.Term{str("clientSession"), cs},
		[2]*ast.Term{str("external"), ext},
		[2]*ast.Term{str("version"), ast.InternedTerm(InputVersion)},
		[2]*ast.Term{str("request"), ast.ObjectTerm(
			ast.Item(str("user"), str(r.User)),
			ast.Item(str("principal"), str(r.Principal)),
			ast.Item(str("source"), str(r.Source)),
			ast.Item(str("clientTags"), strList(r.ClientTags)),
			ast.Item(str("clientInfo"), str(r.ClientInfo)),
			ast.Item(str("catalog"), str(r.Catalog)),
			ast.Item(str("schema"), str(r.Schema)),
			ast.Item(str("session"), strMap(r.Session)),
			ast.Item(str("routingGroup"), str(r.RoutingGroup)),
			ast.Item(str("transactionId"), str(r.TransactionID)),
			ast.Item(str("remoteAddress"), str(r.RemoteAddress)),
			ast.Item(str("method"), str(r.Method)),
			ast.Item(str("path"), str(r.Path)),
		)},
		[2]*ast.Term{str("query"), ast.ObjectTerm(pairs(q)...)},
		[2]*ast.Term{str("fleet"), fleet.term},
		[2]*ast.Term{str("time"), nowTerm(t)},
	)
}

// nowTerm is input.time: {unix, rfc3339, weekday, hour}, built once a
// second (every submission of that second shares it).
func nowTerm(t time.Time) *ast.Term {
	unix := t.Unix()
	if c := lastNow.Load(); c != nil && c.unix == unix {
		return c.term
	}
	term := ast.ObjectTerm(
		ast.Item(str("unix"), ast.InternedTerm(int(unix))),
		ast.Item(str("rfc3339"), str(t.Format("2006-01-02T15:04:05Z07:00"))),
		ast.Item(str("weekday"), str(t.Weekday().String())),
		ast.Item(str("hour"), ast.InternedTerm(t.Hour())),
	)
	lastNow.Store(&secondTerm{unix: unix, term: term})
	return term
}

type secondTerm struct {
	unix int64
	term *ast.Term
}

var lastNow atomic.Pointer[secondTerm]

func pairs(kv []*ast.Term) [][2]*ast.Term {
	out := make([][2]*ast.Term, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, [2]*ast.Term{kv[i], kv[i+1]})
	}
	return out
}

func blocksTerm(bs []Block, tables *names) *ast.Term {
	if len(bs) == 0 {
		return ast.InternedEmptyArray
	}
	ts := make([]*ast.Term, len(bs))
	for i, b := range bs {
		inputs := make([]*ast.Term, len(b.Inputs))
		for j, in := range b.Inputs {
			inputs[j] = tables.list(in)
		}
		ts[i] = ast.ObjectTerm(
			ast.Item(str("tables"), tables.list(b.Tables)),
			ast.Item(str("inputs"), ast.ArrayTerm(inputs...)),
			ast.Item(str("where"), ast.InternedTerm(b.Where)),
			ast.Item(str("limit"), ast.InternedTerm(b.Limit)),
			ast.Item(str("crossJoin"), ast.InternedTerm(b.CrossJoin)),
		)
	}
	return ast.ArrayTerm(ts...)
}

func incidentsTerm(in []Incident) *ast.Term {
	if len(in) == 0 {
		return ast.InternedEmptyArray
	}
	ts := make([]*ast.Term, len(in))
	for i, x := range in {
		items := [][2]*ast.Term{
			ast.Item(str("kind"), str(x.Kind)),
			ast.Item(str("reason"), ast.StringTerm(x.Reason)),
			ast.Item(str("errorName"), str(x.ErrorName)),
			ast.Item(str("queryId"), ast.StringTerm(x.QueryID)),
			ast.Item(str("user"), ast.StringTerm(x.User)),
			ast.Item(str("cluster"), str(x.Cluster)),
			ast.Item(str("time"), timeTerm(x.Time)),
		}
		if !x.Until.IsZero() {
			items = append(items, ast.Item(str("until"), timeTerm(x.Until)))
		}
		ts[i] = ast.ObjectTerm(items...)
	}
	return ast.ArrayTerm(ts...)
}

// timeTerm is a time as the policy reads it: {unix, rfc3339}.
func timeTerm(t time.Time) *ast.Term {
	t = t.UTC()
	return ast.ObjectTerm(
		ast.Item(str("unix"), ast.InternedTerm(int(t.Unix()))),
		ast.Item(str("rfc3339"), ast.StringTerm(t.Format(time.RFC3339))),
	)
}

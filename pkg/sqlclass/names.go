package sqlclass

import (
	"bytes"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxNameParts is the number of parts a table name can have
// (catalog.schema.table).
const maxNameParts = 3

// qname is a dotted name as it appears in the SQL text.
type qname struct {
	parts [maxNameParts]token // the first parts
	n     int                 // number of parts written (may exceed maxNameParts)
	empty bool                // some part is an empty quoted identifier ""
	first token
	last  token
}

func (q *qname) add(t token) {
	if q.n < maxNameParts {
		q.parts[q.n] = t
	}
	if q.n == 0 {
		q.first = t
	}
	q.last = t
	q.n++
	if t.kind() == tkQuoted {
		body := t.end - t.pos - 2 // minus both delimiters
		if t.flags()&flagUnterminated != 0 {
			body = t.end - t.pos - 1
		}
		if body <= 0 {
			q.empty = true
		}
	}
}

// dropLast removes the last part (COMMENT ON COLUMN t.c names table t).
func (q *qname) dropLast() {
	if q.n <= 1 || q.n > maxNameParts+1 {
		q.n = 0
		return
	}
	q.n--
	q.last = q.parts[q.n-1]
}

// written returns the name as written: the source text when the parts are
// separated by bare dots, otherwise the parts' texts joined with dots.
func (q *qname) written(src string) string {
	if q.n == 0 {
		return ""
	}
	if q.n > maxNameParts || q.contiguous() {
		return src[q.first.pos:q.last.end]
	}
	var b strings.Builder
	for i := 0; i < q.n; i++ {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(src[q.parts[i].pos:q.parts[i].end])
	}
	return b.String()
}

// contiguous reports whether the stored parts are separated by single dots
// with nothing (no white space, no comments) in between.
func (q *qname) contiguous() bool {
	for i := 1; i < q.n && i < maxNameParts; i++ {
		if q.parts[i].pos != q.parts[i-1].end+1 {
			return false
		}
	}
	return true
}

// plain reports whether the name is written exactly as its normalised
// form: bare lower-case ASCII words separated by bare dots.
func (q *qname) plain() bool {
	for i := 0; i < q.n && i < maxNameParts; i++ {
		if q.parts[i].kind() != tkWord || q.parts[i].flags()&flagFold != 0 {
			return false
		}
	}
	return q.contiguous()
}

// appendIdent appends the normalised form of the identifier token t:
// lower-cased, and quoted ones unescaped. Trino folds quoted identifiers to
// lower case too, so "ORDERS" and orders are the same table; keeping the
// case would let a query slip past a policy written for the table. A result that contains a dot or a double quote is wrapped in
// double quotes (with "" escapes) so that a qualified name built from the
// parts can be split on the unquoted dots.
func appendIdent(dst []byte, src string, t token) []byte {
	if t.kind() != tkQuoted {
		return appendLower(dst, src[t.pos:t.end])
	}
	start := len(dst)
	body := quotedBody(src, t)
	if t.flags()&flagEscaped == 0 {
		dst = appendLower(dst, body)
	} else {
		q := src[t.pos]
		un := make([]byte, 0, len(body))
		for i := 0; i < len(body); i++ {
			un = append(un, body[i])
			if body[i] == q && i+1 < len(body) && body[i+1] == q {
				i++
			}
		}
		dst = appendLower(dst, string(un))
	}
	return requote(dst, start)
}

// appendDefault appends the normalised form of a session default (catalog
// or schema from the request headers): lower-cased like an unquoted name.
func appendDefault(dst []byte, s string) []byte {
	start := len(dst)
	dst = appendLower(dst, s)
	return requote(dst, start)
}

// requote wraps dst[start:] in double quotes when it contains '.' or '"'.
func requote(dst []byte, start int) []byte {
	part := dst[start:]
	if bytes.IndexByte(part, '.') < 0 && bytes.IndexByte(part, '"') < 0 {
		return dst
	}
	n := len(part)
	dst = append(dst, '"')
	for i := start; i < start+n; i++ {
		if dst[i] == '"' {
			dst = append(dst, '"')
		}
		dst = append(dst, dst[i])
	}
	dst = append(dst, '"')
	return append(dst[:start], dst[start+n:]...)
}

// appendLower appends s lower-cased. Invalid UTF-8 bytes are kept as is.
func appendLower(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if 'A' <= b && b <= 'Z' {
				b += 'a' - 'A'
			}
			dst = append(dst, b)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size <= 1 {
			dst = append(dst, b)
			i++
			continue
		}
		dst = utf8.AppendRune(dst, unicode.ToLower(r))
		i += size
	}
	return dst
}

// needsNormalising reports whether appendDefault would change s.
func needsNormalising(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b >= utf8.RuneSelf || ('A' <= b && b <= 'Z') || b == '.' || b == '"' {
			return true
		}
	}
	return false
}

// normDefault returns the normalised form of a session default.
func normDefault(s string) string {
	if !needsNormalising(s) {
		return s
	}
	return string(appendDefault(nil, s))
}

// parseName reads a dotted name whose first part is first (already
// consumed).
func (c *classifier) parseName(first token) qname {
	var q qname
	q.add(first)
	for c.lx.peek(0).is('.') {
		p := c.lx.peek(1)
		if k := p.kind(); k != tkWord && k != tkQuoted {
			break
		}
		c.lx.next()
		c.lx.next()
		q.add(p)
	}
	return q
}

// addName records a table name, qualifying it with the session defaults,
// and returns it as recorded ("" when it could not be qualified, or the
// table limit was reached). With cteCheck, a one-part name that matches a
// CTE in scope is skipped.
func (c *classifier) addName(q *qname, cteCheck bool) string {
	if q.n == 0 {
		return ""
	}
	if q.n == 1 && cteCheck && len(c.ctes) > 0 && c.cteIndex(q.parts[0]) >= 0 {
		return ""
	}
	if q.empty || q.n > maxNameParts ||
		(q.n < 3 && c.catalog == "") || (q.n < 2 && c.schema == "") {
		c.addUnresolvedName(q)
		return ""
	}
	if q.n == 3 && q.plain() {
		return c.addTableString(c.src[q.first.pos:q.last.end])
	}
	b := c.scratch[:0]
	switch q.n {
	case 1:
		b = append(b, c.catalog...)
		b = append(b, '.')
		b = append(b, c.schema...)
	case 2:
		b = append(b, c.catalog...)
	}
	for i := 0; i < q.n; i++ {
		if i > 0 || q.n < 3 {
			b = append(b, '.')
		}
		b = appendIdent(b, c.src, q.parts[i])
	}
	if have, ok := c.tables.find(b); ok {
		return have
	}
	if len(c.tables.list) >= MaxTables {
		c.truncated = true
		return ""
	}
	s := string(b)
	c.tables.add(s)
	return s
}

// addTableString records a qualified table name and returns it as
// recorded ("" at the table limit).
func (c *classifier) addTableString(s string) string {
	if have, ok := c.tables.findString(s); ok {
		return have
	}
	if len(c.tables.list) >= MaxTables {
		c.truncated = true
		return ""
	}
	c.tables.add(s)
	return s
}

// addUnresolvedName records a name that cannot be qualified, as written.
func (c *classifier) addUnresolvedName(q *qname) {
	c.addUnresolvedString(q.written(c.src))
}

// addUnresolvedString records an unresolved name.
func (c *classifier) addUnresolvedString(s string) {
	if c.unresolved.hasString(s) {
		return
	}
	if len(c.unresolved.list) >= MaxTables {
		c.truncated = true
		return
	}
	c.unresolved.add(s)
}

// identString returns the normalised form of an identifier token.
func (c *classifier) identString(t token) string {
	if t.kind() == tkWord && t.flags()&flagFold == 0 {
		return c.src[t.pos:t.end]
	}
	return string(appendIdent(nil, c.src, t))
}

// cteIndex returns the index in c.ctes of the innermost CTE in scope
// named by the identifier t, or -1. Each comparison is charged to the work
// budget.
func (c *classifier) cteIndex(t token) int {
	c.lx.budget -= len(c.ctes)
	if t.kind() == tkWord && t.flags()&flagFold == 0 {
		for i := len(c.ctes) - 1; i >= 0; i-- {
			if c.ctes[i] == c.src[t.pos:t.end] {
				return i
			}
		}
		return -1
	}
	name := appendIdent(c.scratch[:0], c.src, t)
	for i := len(c.ctes) - 1; i >= 0; i-- {
		if c.ctes[i] == string(name) {
			return i
		}
	}
	return -1
}

// strset is an insertion-ordered set of strings that switches to a map
// once it grows, so that lookups stay cheap for statements that name many
// tables.
type strset struct {
	list []string
	m    map[string]string // members by themselves, once the set is large
}

// mapThreshold is the size at which strset starts maintaining a map.
const mapThreshold = 16

// find returns the member equal to b.
func (s *strset) find(b []byte) (string, bool) {
	if s.m != nil {
		x, ok := s.m[string(b)]
		return x, ok
	}
	for _, x := range s.list {
		if x == string(b) {
			return x, true
		}
	}
	return "", false
}

// findString returns the member equal to x.
func (s *strset) findString(x string) (string, bool) {
	if s.m != nil {
		y, ok := s.m[x]
		return y, ok
	}
	for _, y := range s.list {
		if y == x {
			return y, true
		}
	}
	return "", false
}

func (s *strset) hasString(x string) bool {
	_, ok := s.findString(x)
	return ok
}

func (s *strset) add(x string) {
	if s.list == nil {
		s.list = make([]string, 0, 16)
	}
	s.list = append(s.list, x)
	if s.m != nil {
		s.m[x] = x
		return
	}
	if len(s.list) > mapThreshold {
		s.m = make(map[string]string, 2*len(s.list))
		for _, y := range s.list {
			s.m[y] = y
		}
	}
}

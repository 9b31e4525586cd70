package sqlclass

// This file holds the structural scanner: after the statement head has been
// read (see statement.go), scan walks the remaining tokens keeping a stack
// of parenthesised frames. Query frames know which clause they are in, so
// that names after FROM, JOIN and commas of a FROM clause are recorded as
// tables while FROM inside function calls (EXTRACT, SUBSTRING, TRIM) and
// IS DISTINCT FROM are ignored.

// frameKind tells what a parenthesised region contains.
type frameKind uint8

const (
	fkExpr    frameKind = iota // expressions: function arguments, lists, rows
	fkUnknown                  // starts with '(': query or expression, decided later
	fkQuery                    // a query (or the statement body at the root)
)

// clause is the clause of a query frame the scanner is in.
type clause uint8

const (
	clNone   clause = iota
	clSelect        // select list
	clFrom          // FROM clause (also MERGE ... USING, relation parentheses)
	clWhere         // WHERE
	clOther         // any other clause
)

// joinKind is the kind of join that precedes the next relation.
type joinKind uint8

const (
	joinNone  joinKind = iota
	joinComma          // FROM a, b
	joinCross          // CROSS JOIN
)

// cteState tracks a WITH list.
type cteState uint8

const (
	cteNone      cteState = iota
	cteName               // after WITH or ',': expecting a name
	cteAfterName          // after the name: column list or AS
	cteAfterAs            // after AS: expecting the body
	cteAfterBody          // after the body: ',' or the main query
)

// parenHint tells open what the next '(' is, when the previous token
// decided it.
type parenHint uint8

const (
	hintNone     parenHint = iota
	hintTableFn            // FROM TABLE(fn(...)): table function call
	hintRelation           // TABLE(name) argument of a table function
)

// frame is one level of parentheses (or the statement root).
type frame struct {
	cteName   string // pending CTE name of this frame's WITH list
	nctes     int    // len(classifier.ctes) when the frame was opened
	kind      frameKind
	clause    clause
	pending   joinKind
	cte       cteState
	expectRel bool  // in a FROM clause, the next token starts a relation
	sawCross  bool  // CROSS seen, JOIN expected
	lateral   bool  // LATERAL seen before the relation
	commaJoin bool  // the current query block joins with a comma
	where     bool  // the current query block has a WHERE
	limit     bool  // LIMIT/FETCH at this level
	outer     bool  // this frame is the outermost query
	atStart   bool  // no token has been seen at this level yet
	filter    bool  // FILTER (WHERE ...) of an aggregate
	cteRec    bool  // WITH RECURSIVE
	cteBody   bool  // this frame is the body of a CTE
	selected  bool  // SELECT, VALUES or TABLE seen: a query block, not a join in parentheses
	cross     bool  // the current query block has a CROSS JOIN
	fromRel   bool  // this frame is a relation of its parent's FROM clause
	inStart   int32 // len(classifier.inputs) when the current block started
	seenStart int32 // len(classifier.seen) when the frame was opened
}

// queryRoot is the root frame for statements whose body is a query.
func queryRoot() frame {
	return frame{kind: fkQuery, outer: true, atStart: true}
}

// scan processes the tokens up to the end of the statement, starting with
// root as the outermost frame.
func (c *classifier) scan(root frame) {
	c.stack.reset(root)
	for {
		c.before = c.lx.lastEnd
		t := c.lx.next()
		if t.endsStatement() {
			if c.queryEnd < 0 {
				c.queryEnd = max(c.queryStart, int(c.before))
			}
			break
		}
		if c.overflow > 0 {
			if t.is('(') {
				c.overflow++
			} else if t.is(')') {
				c.overflow--
			}
			continue
		}
		if !c.sawFirst && !t.is('(') {
			c.sawFirst = true
			if t.kind() == tkWord {
				c.firstKw = t.kw()
			}
		}
		hint := c.nextParen
		c.nextParen = hintNone
		switch {
		case t.is('('):
			c.open(hint)
		case t.is(')'):
			c.close()
		default:
			c.token(t)
		}
		c.prev = t
	}
	for c.stack.n > 1 {
		c.close()
	}
	last := c.stack.top()
	c.finishBlock(last)
	c.hasLimit = c.hasLimit || last.limit
	if c.parenStmt {
		switch c.firstKw {
		case kwSelect, kwWith, kwValues, kwTable:
			c.stmt = TypeSelect
		}
	}
}

// top returns the innermost frame.
func (c *classifier) top() *frame { return c.stack.top() }

// inlineFrames is the number of frames kept without allocating.
const inlineFrames = 16

// frameStack is a stack of frames; the first inlineFrames live in the
// classifier itself (on the caller's stack), deeper ones in a slice.
type frameStack struct {
	inline [inlineFrames]frame
	deep   []frame
	n      int
}

func (s *frameStack) reset(root frame) {
	s.inline[0] = root
	s.deep = s.deep[:0]
	s.n = 1
}

func (s *frameStack) top() *frame {
	if s.n <= inlineFrames {
		return &s.inline[s.n-1]
	}
	return &s.deep[s.n-1-inlineFrames]
}

func (s *frameStack) push(f frame) {
	if s.n < inlineFrames {
		s.inline[s.n] = f
	} else {
		s.deep = append(s.deep, f)
	}
	s.n++
}

func (s *frameStack) pop() frame {
	f := *s.top()
	s.n--
	if s.n >= inlineFrames {
		s.deep = s.deep[:len(s.deep)-1]
	}
	return f
}

// open handles '('.
func (c *classifier) open(hint parenHint) {
	if c.stack.n >= maxDepth {
		c.overflow = 1
		c.truncated = true
		return
	}
	p := c.top()
	ch := frame{atStart: true, nctes: len(c.ctes), inStart: int32(len(c.inputs)), seenStart: int32(len(c.seen))}
	switch {
	case hint == hintTableFn:
		ch.kind = fkExpr
	case hint == hintRelation:
		ch.kind, ch.clause, ch.expectRel = fkQuery, clFrom, true
	case p.kind == fkQuery && p.clause == clFrom && p.expectRel:
		// A sub-query or a parenthesised join in a FROM clause.
		ch.kind, ch.clause, ch.expectRel = fkQuery, clFrom, true
		ch.fromRel = true
		p.expectRel = false
		c.joined(p, !p.lateral)
	case p.cte == cteAfterAs:
		ch.kind = fkQuery
		ch.cteBody = true
	default:
		ch.kind = c.parenKind()
		ch.filter = c.prev.isKw(kwFilter)
	}
	ch.outer = p.outer && p.atStart && ch.kind != fkExpr
	p.atStart = false
	c.stack.push(ch)
}

// parenKind looks at the tokens after '(' to tell a sub-query from an
// expression.
func (c *classifier) parenKind() frameKind {
	t := c.lx.peek(0)
	if t.is('(') {
		return fkUnknown
	}
	if t.kind() != tkWord {
		return fkExpr
	}
	switch t.kw() {
	case kwSelect, kwWith, kwValues:
		return fkQuery
	case kwTable:
		if c.lx.peek(1).isNameStart() {
			return fkQuery
		}
	}
	return fkExpr
}

// close handles ')'.
func (c *classifier) close() {
	if c.stack.n <= 1 {
		return // unbalanced ')': ignore
	}
	ch := c.stack.pop()
	p := c.top()
	if ch.fromRel && !ch.selected {
		// (a JOIN b ON ...): a join in parentheses; its relations are
		// inputs of the enclosing block.
		p.cross = p.cross || ch.cross
		p.commaJoin = p.commaJoin || ch.commaJoin
		c.ctes, c.cteSpans = c.ctes[:ch.nctes], c.cteSpans[:ch.nctes]
		return
	}
	c.finishBlock(&ch)
	c.ctes, c.cteSpans = c.ctes[:ch.nctes], c.cteSpans[:ch.nctes]
	read := span{from: ch.seenStart, to: int32(len(c.seen))}
	if ch.fromRel {
		c.addInput(read, false) // a sub-query in FROM: one input of the enclosing block
	}
	if ch.outer {
		// (query) as the whole query: its LIMIT is the outermost LIMIT,
		// unless a set operation follows (which clears it).
		p.limit = ch.limit
	}
	if ch.cteBody && p.cte == cteAfterAs {
		if !p.cteRec {
			c.addCTE(p.cteName, read)
		}
		p.cte = cteAfterBody
	}
}

// addCTE brings a CTE name into scope; read is the span of c.seen its body
// reads.
func (c *classifier) addCTE(name string, read span) {
	if c.ctes == nil {
		c.ctes = make([]string, 0, 8)
		c.cteSpans = make([]span, 0, 8)
	}
	c.ctes = append(c.ctes, name)
	c.cteSpans = append(c.cteSpans, read)
}

// finishBlock ends a query block: it records the block's findings (a comma
// join without WHERE is a cross join) and starts the next block of the
// frame (after UNION, INTERSECT, EXCEPT).
func (c *classifier) finishBlock(f *frame) {
	cross := f.cross || (f.commaJoin && !f.where)
	if cross {
		c.crossJoin = true
	}
	if int(f.inStart) < len(c.inputs) {
		c.addBlock(c.inputs[f.inStart:], f.where, f.limit, cross)
		c.inputs = c.inputs[:f.inStart]
	}
	f.commaJoin = false
	f.where = false
	f.cross = false
}

// joined records that a relation follows the pending join; counts is false
// for UNNEST, LATERAL and JSON_TABLE, which are correlated with the left side.
func (c *classifier) joined(f *frame, counts bool) {
	if counts {
		switch f.pending {
		case joinCross:
			f.cross = true
		case joinComma:
			f.commaJoin = true
		}
	}
	f.pending = joinNone
	f.lateral = false
}

// token handles every token but '(' and ')'.
func (c *classifier) token(t token) {
	f := c.top()
	f.atStart = false
	if f.cte != cteNone && c.cteToken(f, t) {
		return
	}
	if f.kind == fkQuery && f.clause == clFrom && f.expectRel && c.relation(f, t) {
		return
	}
	if t.kind() == tkPunct {
		if t.ch() == ',' && f.kind == fkQuery && f.clause == clFrom {
			f.expectRel = true
			f.pending = joinComma
			f.sawCross = false
		}
		return
	}
	if t.kind() != tkWord {
		return
	}
	query := f.kind == fkQuery
	switch t.kw() {
	case kwSelect:
		f.kind = fkQuery
		f.clause = clSelect
		f.expectRel = false
		f.selected = true
	case kwFrom:
		if query && !c.prev.isKw(kwDistinct) {
			f.clause = clFrom
			f.expectRel = true
			f.pending = joinNone
			f.sawCross = false
		}
	case kwWhere:
		if !f.filter {
			c.hasWhere = true
			f.where = true
		}
		if query {
			f.clause = clWhere
			f.expectRel = false
		}
	case kwUnion, kwIntersect, kwExcept:
		c.finishBlock(f)
		f.kind = fkQuery
		f.clause = clNone
		f.limit = false
		f.expectRel = false
	case kwWith:
		if c.queryEnd < 0 && c.stack.n == 1 && c.stmt == TypeCreateTableAs && c.withData() {
			// CREATE TABLE ... AS query WITH [NO] DATA: the query ends here.
			c.queryEnd = max(c.queryStart, int(c.before))
			f.clause = clOther
			f.expectRel = false
			return
		}
		if query {
			c.cteStart(f)
		}
	case kwTable:
		n := c.lx.peek(0)
		switch {
		case n.is('('):
			c.nextParen = hintRelation
		case n.isNameStart():
			c.lx.next()
			q := c.parseName(n)
			c.relationName(&q)
			f.kind = fkQuery
			f.clause = clOther
			f.selected = true
		}
	case kwValues, kwGroup, kwHaving, kwOrder, kwOffset:
		if t.kw() == kwValues {
			f.selected = true
		}
		if query {
			f.clause = clOther
			f.expectRel = false
		}
	case kwWindow:
		if query && c.lx.peek(0).isNameStart() && c.lx.peek(1).isKw(kwAs) {
			f.clause = clOther
			f.expectRel = false
		}
	case kwLimit:
		// LIMIT is not reserved: only LIMIT n and LIMIT ? count. In a
		// frame that starts with '(' it shows that the frame is a query:
		// ((SELECT ...) LIMIT 5).
		if n := c.lx.peek(0); f.kind != fkExpr && (n.kind() == tkNumber || (n.kind() == tkOp && n.ch() == '?')) {
			f.kind = fkQuery
			f.limit = true
			f.clause = clOther
		}
	case kwFetch:
		if n := c.lx.peek(0); f.kind != fkExpr && (n.isKw(kwFirst) || n.isKw(kwNext)) {
			f.kind = fkQuery
			f.limit = true
			f.clause = clOther
		}
	case kwCross:
		if query && f.clause == clFrom {
			f.sawCross = true
		}
	case kwJoin:
		if query && f.clause == clFrom {
			f.expectRel = true
			f.pending = joinNone
			if f.sawCross {
				f.pending = joinCross
			}
			f.sawCross = false
		}
	case kwAs:
		if c.waitAs && c.stack.n == 1 {
			// CREATE TABLE/VIEW ... AS: the query starts here.
			c.waitAs = false
			if c.createTable {
				c.stmt = TypeCreateTableAs
				c.markQueryStart()
			}
			*f = queryRoot()
		}
	case kwLike:
		if c.createTable && c.waitAs && c.stack.n == 2 && c.lx.peek(0).isNameStart() {
			// CREATE TABLE t (LIKE other ...)
			q := c.parseName(c.lx.next())
			c.addName(&q, false)
		}
	case kwWhen:
		if c.merge && c.stack.n == 1 {
			f.clause = clOther
			f.expectRel = false
		}
	}
}

// withData reports whether the tokens after WITH are [NO] DATA.
func (c *classifier) withData() bool {
	n := c.lx.peek(0)
	return c.isWord(n, "data") || (c.isWord(n, "no") && c.isWord(c.lx.peek(1), "data"))
}

// relation handles the first token of a relation in a FROM clause. It
// returns false when t does not start a relation, leaving t to token.
func (c *classifier) relation(f *frame, t token) bool {
	f.expectRel = false
	switch {
	case t.isKw(kwLateral) && c.lx.peek(0).is('('):
		f.expectRel = true
		f.lateral = true
		return true
	case t.isKw(kwUnnest), t.isKw(kwJSONTable):
		c.joined(f, false)
		return true
	case t.isKw(kwTable) && c.lx.peek(0).is('('):
		c.joined(f, true)
		c.nextParen = hintTableFn
		return true
	case t.isNameStart():
		q := c.parseName(t)
		c.relationName(&q)
		c.joined(f, true)
		return true
	}
	f.pending = joinNone
	return false
}

// cteStart handles WITH in a query frame: a WITH list starts when WITH is
// followed by RECURSIVE, or by a name and then AS or a column list. Other
// uses of WITH (table properties, WITH ORDINALITY, WITH TIES, WITH NO DATA)
// are ignored.
func (c *classifier) cteStart(f *frame) {
	n := c.lx.peek(0)
	if n.isKw(kwRecursive) {
		c.lx.next()
		f.cte = cteName
		f.cteRec = true
		return
	}
	if !n.isNameStart() || n.isKw(kwOrdinality) || n.isKw(kwTies) {
		return
	}
	if m := c.lx.peek(1); m.isKw(kwAs) || m.is('(') {
		f.cte = cteName
		f.cteRec = false
	}
}

// cteToken advances a WITH list. It returns true when it consumed t.
func (c *classifier) cteToken(f *frame, t token) bool {
	switch f.cte {
	case cteName:
		if t.isNameStart() {
			f.cteName = c.identString(t)
			f.cte = cteAfterName
			if f.cteRec {
				c.addCTE(f.cteName, span{}) // what it reads is not known yet
			}
			return true
		}
	case cteAfterName:
		if t.isKw(kwAs) {
			f.cte = cteAfterAs
			return true
		}
	case cteAfterBody:
		if t.is(',') {
			f.cte = cteName
			return true
		}
	}
	f.cte = cteNone
	return false
}

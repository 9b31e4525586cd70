package sqlclass

// This file reads statement heads: the leading keywords that decide the
// statement type and name its target, before the structural scanner takes
// over the rest (see scanner.go).

// statement classifies the statement at the lexer's position.
func (c *classifier) statement() {
	for {
		t := c.lx.peek(0)
		if t.is(';') && c.nwrap == 0 {
			c.lx.next() // empty statement
			continue
		}
		if t.kind() != tkWord {
			if t.is('(') {
				c.parenStmt = true
				c.scan(queryRoot())
			}
			return
		}
		switch t.kw() {
		case kwSelect, kwValues, kwWith, kwTable:
			c.stmt = TypeSelect
			c.scan(queryRoot())
			return
		case kwExplain:
			c.lx.next()
			typ := TypeExplain
			if c.acceptKw(kwAnalyze) {
				typ = TypeExplainAnalyze
			}
			c.acceptKw(kwVerbose)
			if c.lx.peek(0).is('(') {
				if k := c.lx.peek(1); k.isKw(kwFormat) || k.isKw(kwType) {
					c.skipParens()
				}
			}
			if !c.wrap(typ) {
				return
			}
		case kwPrepare:
			c.lx.next()
			if c.lx.peek(0).isNameStart() {
				c.lx.next()
			}
			c.acceptKw(kwFrom)
			if !c.wrap(TypePrepare) {
				return
			}
		case kwExecute:
			c.lx.next()
			c.stmt = TypeExecute
			if c.acceptKw(kwImmediate) {
				c.executeImmediate()
			}
			return
		default:
			c.simpleStatement(t.kw())
			return
		}
	}
}

// wrap records an EXPLAIN/PREPARE prefix; it returns false when there are
// too many.
func (c *classifier) wrap(typ string) bool {
	if c.nwrap >= maxWrappers {
		c.truncated = true
		return false
	}
	c.wrappers[c.nwrap] = typ
	c.nwrap++
	return true
}

// executeImmediate classifies the statement in EXECUTE IMMEDIATE 'sql' and
// merges its findings, reporting EXECUTE with the inner type.
func (c *classifier) executeImmediate() {
	t := c.lx.peek(0)
	if t.kind() != tkString {
		return
	}
	c.lx.next()
	if c.nest >= maxNest || !c.wrap(TypeExecute) {
		c.truncated = true
		return
	}
	budget := c.lx.budget
	r := classify(stringValue(c.src, t), c.opts, c.nest+1, &budget)
	c.lx.budget = budget
	c.stmt = r.Type
	if r.Inner != "" && c.wrap(r.Type) {
		c.stmt = r.Inner
	}
	c.crossJoin = c.crossJoin || r.CrossJoin
	c.hasWhere = c.hasWhere || r.HasWhere
	c.hasLimit = c.hasLimit || r.HasLimit
	c.truncated = c.truncated || r.Truncated
	for _, b := range r.Blocks {
		if len(c.blocks) >= MaxBlocks {
			c.truncated = true
			break
		}
		c.blocks = append(c.blocks, b)
	}
	for _, s := range r.Tables {
		c.addTableString(s)
	}
	for _, s := range r.Unresolved {
		c.addUnresolvedString(s)
	}
}

// simpleStatement handles statements that cannot wrap another one.
func (c *classifier) simpleStatement(kw keyword) {
	c.lx.next()
	switch kw {
	case kwInsert:
		c.stmt = TypeInsert
		c.acceptKw(kwInto)
		c.target()
		// Column list, unless the parenthesis holds the query.
		if c.lx.peek(0).is('(') {
			if k := c.lx.peek(1); !k.is('(') && !k.isKw(kwSelect) && !k.isKw(kwWith) && !k.isKw(kwValues) && !k.isKw(kwTable) {
				c.skipParens()
			}
		}
		c.markQueryStart()
		c.scan(queryRoot())
	case kwDelete:
		c.stmt = TypeDelete
		c.acceptKw(kwFrom)
		c.target()
		c.scan(queryRoot())
	case kwUpdate:
		c.stmt = TypeUpdate
		c.target()
		c.scan(queryRoot())
	case kwMerge:
		c.stmt = TypeMerge
		c.acceptKw(kwInto)
		c.target()
		c.acceptKw(kwAs)
		if c.lx.peek(0).isNameStart() {
			c.lx.next() // alias
		}
		root := queryRoot()
		if c.acceptKw(kwUsing) {
			root.clause = clFrom
			root.expectRel = true
		}
		c.merge = true
		c.scan(root)
	case kwCreate:
		c.create()
	case kwAlter:
		c.stmt = TypeDDL
		if c.objectKind() {
			c.ifExists()
			c.target()
			if c.acceptKw(kwRename) && c.acceptKw(kwTo) {
				c.target()
			}
			// ALTER TABLE t EXECUTE proc WHERE ...: only WHERE matters.
			c.scan(frame{kind: fkExpr})
		}
	case kwDrop:
		c.stmt = TypeDDL
		if c.objectKind() {
			c.ifExists()
			c.target()
		}
	case kwTruncate:
		c.stmt = TypeDDL
		c.acceptKw(kwTable)
		c.target()
	case kwComment:
		c.stmt = TypeDDL
		c.acceptKw(kwOn)
		switch {
		case c.objectKind():
			c.target()
		case c.acceptKw(kwColumn):
			if t := c.lx.peek(0); t.isNameStart() {
				c.lx.next()
				q := c.parseName(t)
				q.dropLast()
				c.addName(&q, false)
			}
		}
	case kwGrant, kwRevoke, kwDeny:
		c.stmt = TypeDDL
		c.skipTo(kwOn)
		if c.acceptKw(kwOn) && !c.lx.peek(0).isKw(kwSchema) {
			c.acceptKw(kwTable)
			c.target()
		}
	case kwRefresh:
		c.stmt = TypeDDL
		c.acceptKw(kwMaterialized)
		c.acceptKw(kwView)
		c.target()
	case kwAnalyze:
		c.stmt = TypeDDL
		c.target()
	case kwShow:
		c.stmt = TypeShow
		c.show()
	case kwDescribe, kwDesc:
		c.stmt = TypeShow
		if k := c.lx.peek(0); (k.isKw(kwInput) || k.isKw(kwOutput)) && c.lx.peek(1).isNameStart() {
			return // DESCRIBE INPUT/OUTPUT prepared-statement
		}
		c.target()
	case kwCall:
		c.stmt = TypeCall
	case kwSet:
		switch c.lx.peek(0).kw() {
		case kwSession, kwRole, kwPath, kwTime:
			c.stmt = TypeSetSession
		}
	case kwReset:
		if c.lx.peek(0).isKw(kwSession) {
			c.stmt = TypeSetSession
		}
	case kwStart:
		if c.lx.peek(0).isKw(kwTransaction) {
			c.stmt = TypeTransaction
		}
	case kwCommit, kwRollback:
		c.stmt = TypeTransaction
	case kwUse:
		c.stmt = TypeUse
	case kwDeallocate:
		c.stmt = TypeExecute
	}
}

// create handles CREATE ...
func (c *classifier) create() {
	c.stmt = TypeDDL
	if c.acceptKw(kwOr) {
		c.acceptKw(kwReplace)
	}
	switch {
	case c.acceptKw(kwTable):
		c.stmt = TypeCreateTable
		c.ifNotExists()
		c.target()
		c.createTable = true
	case c.acceptKw(kwView):
		c.stmt = TypeCreateView
		c.target()
	case c.acceptKw(kwMaterialized):
		c.acceptKw(kwView)
		c.ifNotExists()
		c.target()
	default:
		return // CREATE SCHEMA, ROLE, FUNCTION, CATALOG, ...
	}
	c.waitAs = true
	c.scan(frame{kind: fkExpr})
}

// show handles SHOW ...: only the forms that name a table record one.
func (c *classifier) show() {
	switch {
	case c.acceptKw(kwColumns):
		if c.acceptKw(kwFrom) || c.acceptKw(kwIn) {
			c.target()
		}
	case c.acceptKw(kwCreate):
		if c.objectKind() {
			c.target()
		}
	case c.acceptKw(kwStats):
		c.acceptKw(kwFor)
		if c.lx.peek(0).is('(') {
			c.scan(queryRoot()) // SHOW STATS FOR (query)
		} else {
			c.target()
		}
	case c.acceptKw(kwGrants):
		if c.acceptKw(kwOn) && !c.lx.peek(0).isKw(kwSchema) {
			c.acceptKw(kwTable)
			c.target()
		}
	}
}

// objectKind accepts TABLE, VIEW or MATERIALIZED VIEW and reports whether
// one was there.
func (c *classifier) objectKind() bool {
	if c.acceptKw(kwTable) || c.acceptKw(kwView) {
		return true
	}
	if c.acceptKw(kwMaterialized) {
		c.acceptKw(kwView)
		return true
	}
	return false
}

// ifExists accepts IF EXISTS.
func (c *classifier) ifExists() {
	if c.lx.peek(0).isKw(kwIf) && c.lx.peek(1).isKw(kwExists) {
		c.lx.next()
		c.lx.next()
	}
}

// ifNotExists accepts IF NOT EXISTS.
func (c *classifier) ifNotExists() {
	if c.lx.peek(0).isKw(kwIf) && c.lx.peek(1).isKw(kwNot) && c.lx.peek(2).isKw(kwExists) {
		c.lx.next()
		c.lx.next()
		c.lx.next()
	}
}

// acceptKw consumes the next token if it is the keyword k.
func (c *classifier) acceptKw(k keyword) bool {
	if c.lx.peek(0).isKw(k) {
		c.lx.next()
		return true
	}
	return false
}

// target reads a name, if there is one, and records it as a table.
func (c *classifier) target() {
	t := c.lx.peek(0)
	if !t.isNameStart() {
		return
	}
	c.lx.next()
	q := c.parseName(t)
	c.addName(&q, false)
}

// skipParens skips a balanced parenthesised group starting at the next
// token, stopping early at the end of the statement.
func (c *classifier) skipParens() {
	depth := 0
	for {
		t := c.lx.peek(0)
		if t.endsStatement() {
			return
		}
		c.lx.next()
		if t.is('(') {
			depth++
		} else if t.is(')') {
			depth--
			if depth <= 0 {
				return
			}
		}
	}
}

// skipTo skips tokens up to the keyword k (not consumed) or the end of the
// statement.
func (c *classifier) skipTo(k keyword) {
	for {
		t := c.lx.peek(0)
		if t.endsStatement() || t.isKw(k) {
			return
		}
		c.lx.next()
	}
}

// markQueryStart notes that the query of a write (INSERT, CREATE TABLE AS)
// starts at the next token; it ends where the statement does.
func (c *classifier) markQueryStart() {
	if c.nest > 0 {
		return // offsets would be in the EXECUTE IMMEDIATE string
	}
	if t := c.lx.peek(0); !t.endsStatement() {
		c.queryStart = int(t.pos)
		c.queryEnd = -1
	}
}

// isWord reports whether t is the unquoted word w (lower case).
func (c *classifier) isWord(t token, w string) bool {
	if t.kind() != tkWord || int(t.end-t.pos) != len(w) {
		return false
	}
	for i := 0; i < len(w); i++ {
		b := c.src[int(t.pos)+i]
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if b != w[i] {
			return false
		}
	}
	return true
}

package sqlclass

// This file records the findings per query block that protection policy
// reads: which relations each block joins, whether it has a WHERE or a
// LIMIT, whether a join has no criteria (a cross join), and so which
// tables are read without a filter (full scans).

import "slices"

// MaxBlocks caps the query blocks reported in Result.Blocks; further ones
// still count in the other fields and set Truncated.
const MaxBlocks = 100

// Block is one query block (SELECT ... FROM ... [WHERE ...]) that reads
// at least one relation, as policy sees it.
type Block struct {
	// Tables are the tables the block names in its own FROM clause (not
	// those of its sub-queries and CTEs, which are blocks of their own),
	// sorted and unique.
	Tables []string `json:"tables"`
	// Inputs are the relations its FROM clause joins, in order, each as
	// the tables it reads: one table, or every table a sub-query or CTE in
	// FROM reads. Relations that read no table (VALUES, UNNEST, table
	// functions) are left out.
	Inputs [][]string `json:"inputs"`
	// Where: the block has a WHERE clause (not an aggregate's FILTER).
	Where bool `json:"where"`
	// Limit: the block ends in LIMIT n or FETCH FIRST n.
	Limit bool `json:"limit"`
	// CrossJoin: the block joins without criteria (CROSS JOIN, or a comma
	// join and no WHERE).
	CrossJoin bool `json:"crossJoin"`
}

// span is a range of classifier.seen.
type span struct{ from, to int32 }

// input is one relation of an open block: the tables it reads, and whether
// it is a table named directly in the block.
type input struct {
	read   span
	direct bool
}

// relationName records a relation named in a FROM clause (or TABLE t): a
// CTE in scope stands for the tables its body reads, anything else is a
// table.
func (c *classifier) relationName(q *qname) {
	if q.n == 1 && len(c.ctes) > 0 {
		if i := c.cteIndex(q.parts[0]); i >= 0 {
			c.addInput(c.cteSpans[i], false)
			return
		}
	}
	name := c.addName(q, false)
	if name == "" {
		return
	}
	c.seen = append(c.seen, name)
	c.addInput(span{from: int32(len(c.seen) - 1), to: int32(len(c.seen))}, true)
}

// addInput adds a relation to the innermost open block.
func (c *classifier) addInput(read span, direct bool) {
	if read.to > read.from {
		c.inputs = append(c.inputs, input{read: read, direct: direct})
	}
}

// addBlock records a finished block with its inputs.
func (c *classifier) addBlock(in []input, where, limit, cross bool) {
	if len(c.blocks) >= MaxBlocks {
		c.truncated = true
		return
	}
	b := Block{Where: where, Limit: limit, CrossJoin: cross, Inputs: make([][]string, 0, len(in))}
	for _, i := range in {
		tables := uniqueSorted(c.seen[i.read.from:i.read.to])
		b.Inputs = append(b.Inputs, tables)
		if i.direct {
			b.Tables = append(b.Tables, tables...)
		}
	}
	b.Tables = uniqueSorted(b.Tables)
	c.blocks = append(c.blocks, b)
}

// uniqueSorted returns a sorted copy of s without duplicates (never nil).
func uniqueSorted(s []string) []string {
	out := make([]string, len(s))
	copy(out, s)
	slices.Sort(out)
	return slices.Compact(out)
}

// fullScans lists the tables read by blocks without a WHERE and without a
// LIMIT, sorted and unique (nil when none).
func fullScans(blocks []Block) []string {
	var out []string
	for _, b := range blocks {
		if !b.Where && !b.Limit {
			out = append(out, b.Tables...)
		}
	}
	if out == nil {
		return nil
	}
	return uniqueSorted(out)
}

package sqlclass

// keyword identifies the words the classifier reacts to. Words that are not
// listed here are plain identifiers (kwNone), except Trino's other reserved
// words, which all map to kwReserved so that they are never taken as names.
type keyword uint8

const (
	kwNone keyword = iota

	// Reserved words in Trino (must be quoted to be used as identifiers).
	kwReserved // any reserved word not listed separately below
	kwAlter
	kwAs
	kwCreate
	kwCross
	kwDeallocate
	kwDelete
	kwDescribe
	kwDistinct
	kwDrop
	kwExcept
	kwExecute
	kwExists
	kwFor
	kwFrom
	kwGroup
	kwHaving
	kwIn
	kwInsert
	kwIntersect
	kwInto
	kwJoin
	kwJSONTable
	kwLike
	kwNot
	kwOn
	kwOr
	kwOrder
	kwPrepare
	kwRecursive
	kwSelect
	kwTable
	kwUnion
	kwUnnest
	kwUsing
	kwValues
	kwWhen
	kwWhere
	kwWith

	// Non-reserved words that matter in some position.
	kwAnalyze
	kwCall
	kwColumn
	kwColumns
	kwComment
	kwCommit
	kwDeny
	kwDesc
	kwExplain
	kwFetch
	kwFilter
	kwFirst
	kwFormat
	kwGrant
	kwGrants
	kwIf
	kwImmediate
	kwInput
	kwLateral
	kwLimit
	kwMaterialized
	kwMerge
	kwNext
	kwOffset
	kwOrdinality
	kwOutput
	kwPath
	kwRefresh
	kwRename
	kwReplace
	kwReset
	kwRevoke
	kwRole
	kwRollback
	kwSchema
	kwSession
	kwSet
	kwShow
	kwStart
	kwStats
	kwTies
	kwTime
	kwTo
	kwTransaction
	kwTruncate
	kwType
	kwUpdate
	kwUse
	kwVerbose
	kwView
	kwWindow
)

// lastReserved is the last reserved keyword; reserved ones come first.
const lastReserved = kwWith

// reserved reports whether k is a reserved word, which cannot start a name.
func (k keyword) reserved() bool { return k >= kwReserved && k <= lastReserved }

// maxKeywordLen is the length of the longest word in keywordList
// (current_timestamp).
const maxKeywordLen = 17

// keywordList maps the words the classifier knows to their keywords.
var keywordList = [...]struct {
	word string
	kw   keyword
}{
	{"alter", kwAlter},
	{"as", kwAs},
	{"create", kwCreate},
	{"cross", kwCross},
	{"deallocate", kwDeallocate},
	{"delete", kwDelete},
	{"describe", kwDescribe},
	{"distinct", kwDistinct},
	{"drop", kwDrop},
	{"except", kwExcept},
	{"execute", kwExecute},
	{"exists", kwExists},
	{"for", kwFor},
	{"from", kwFrom},
	{"group", kwGroup},
	{"having", kwHaving},
	{"in", kwIn},
	{"insert", kwInsert},
	{"intersect", kwIntersect},
	{"into", kwInto},
	{"join", kwJoin},
	{"json_table", kwJSONTable},
	{"like", kwLike},
	{"not", kwNot},
	{"on", kwOn},
	{"or", kwOr},
	{"order", kwOrder},
	{"prepare", kwPrepare},
	{"recursive", kwRecursive},
	{"select", kwSelect},
	{"table", kwTable},
	{"union", kwUnion},
	{"unnest", kwUnnest},
	{"using", kwUsing},
	{"values", kwValues},
	{"when", kwWhen},
	{"where", kwWhere},
	{"with", kwWith},
	{"and", kwReserved},
	{"between", kwReserved},
	{"by", kwReserved},
	{"case", kwReserved},
	{"cast", kwReserved},
	{"constraint", kwReserved},
	{"cube", kwReserved},
	{"current_catalog", kwReserved},
	{"current_date", kwReserved},
	{"current_path", kwReserved},
	{"current_role", kwReserved},
	{"current_schema", kwReserved},
	{"current_time", kwReserved},
	{"current_timestamp", kwReserved},
	{"current_user", kwReserved},
	{"else", kwReserved},
	{"end", kwReserved},
	{"escape", kwReserved},
	{"extract", kwReserved},
	{"false", kwReserved},
	{"full", kwReserved},
	{"grouping", kwReserved},
	{"inner", kwReserved},
	{"is", kwReserved},
	{"json_array", kwReserved},
	{"json_exists", kwReserved},
	{"json_object", kwReserved},
	{"json_query", kwReserved},
	{"json_value", kwReserved},
	{"left", kwReserved},
	{"listagg", kwReserved},
	{"localtime", kwReserved},
	{"localtimestamp", kwReserved},
	{"natural", kwReserved},
	{"normalize", kwReserved},
	{"null", kwReserved},
	{"outer", kwReserved},
	{"right", kwReserved},
	{"rollup", kwReserved},
	{"skip", kwReserved},
	{"then", kwReserved},
	{"trim", kwReserved},
	{"true", kwReserved},
	{"uescape", kwReserved},
	{"analyze", kwAnalyze},
	{"call", kwCall},
	{"column", kwColumn},
	{"columns", kwColumns},
	{"comment", kwComment},
	{"commit", kwCommit},
	{"deny", kwDeny},
	{"desc", kwDesc},
	{"explain", kwExplain},
	{"fetch", kwFetch},
	{"filter", kwFilter},
	{"first", kwFirst},
	{"format", kwFormat},
	{"grant", kwGrant},
	{"grants", kwGrants},
	{"if", kwIf},
	{"immediate", kwImmediate},
	{"input", kwInput},
	{"lateral", kwLateral},
	{"limit", kwLimit},
	{"materialized", kwMaterialized},
	{"merge", kwMerge},
	{"next", kwNext},
	{"offset", kwOffset},
	{"ordinality", kwOrdinality},
	{"output", kwOutput},
	{"path", kwPath},
	{"refresh", kwRefresh},
	{"rename", kwRename},
	{"replace", kwReplace},
	{"reset", kwReset},
	{"revoke", kwRevoke},
	{"role", kwRole},
	{"rollback", kwRollback},
	{"schema", kwSchema},
	{"session", kwSession},
	{"set", kwSet},
	{"show", kwShow},
	{"start", kwStart},
	{"stats", kwStats},
	{"ties", kwTies},
	{"time", kwTime},
	{"to", kwTo},
	{"transaction", kwTransaction},
	{"truncate", kwTruncate},
	{"type", kwType},
	{"update", kwUpdate},
	{"use", kwUse},
	{"verbose", kwVerbose},
	{"view", kwView},
	{"window", kwWindow},
}

// kwTableSize is the size of the keyword hash table (a power of two, about
// four times the number of keywords).
const kwTableSize = 512

// kwEntry is a slot of the keyword hash table.
type kwEntry struct {
	word string
	kw   keyword
}

// keywordTable is an open-addressing hash table over keywordList, indexed
// by kwHash. It is built once and never modified.
var keywordTable = func() (t [kwTableSize]kwEntry) {
	for _, e := range keywordList {
		var h uint32
		for i := 0; i < len(e.word); i++ {
			h = kwHash(h, e.word[i])
		}
		i := h % kwTableSize
		for t[i].word != "" {
			i = (i + 1) % kwTableSize
		}
		t[i] = kwEntry{e.word, e.kw}
	}
	return t
}()

// kwHash adds byte b to the case-insensitive hash h of a word.
func kwHash(h uint32, b byte) uint32 { return h*31 + uint32(b|0x20) }

// lookupKeyword returns the keyword for the unquoted ASCII word w whose
// kwHash is h, kwNone if it is not one. The comparison is
// case-insensitive.
func lookupKeyword(w string, h uint32) keyword {
	for i := h % kwTableSize; ; i = (i + 1) % kwTableSize {
		e := &keywordTable[i]
		if e.word == "" {
			return kwNone
		}
		if len(e.word) == len(w) && equalFoldASCII(e.word, w) {
			return e.kw
		}
	}
}

// equalFoldASCII reports whether the lower-case ASCII word kw equals w
// ignoring ASCII case.
func equalFoldASCII(kw, w string) bool {
	for i := 0; i < len(w); i++ {
		b := w[i]
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if b != kw[i] {
			return false
		}
	}
	return true
}

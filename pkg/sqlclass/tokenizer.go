package sqlclass

import "strings"

// tokKind is the lexical class of a token.
type tokKind uint8

const (
	tkEOF    tokKind = iota // end of input (or of the work budget)
	tkWord                  // unquoted identifier or keyword
	tkQuoted                // "quoted" or `backquoted` identifier
	tkString                // 'string literal'
	tkNumber                // numeric literal
	tkPunct                 // one of ( ) , . ;
	tkOp                    // any other symbol, one byte per token
)

// Token flags, stored above the kind bits of token.kf.
const (
	flagUnterminated uint8 = 8 << iota // string or quoted identifier runs to the end of input
	flagEscaped                        // contains a doubled quote character
	flagFold                           // word has upper-case ASCII or non-ASCII bytes
)

// kindMask selects the kind bits of token.kf.
const kindMask = 7

// token is one lexical token. Its text is src[pos:end]; tokens never copy
// the input. Tokens are kept to four small fields so that the compiler
// passes them in registers; offsets are 32-bit (Classify caps its input at
// maxInput bytes).
type token struct {
	pos, end int32
	kf       uint8 // kind | flags
	v        uint8 // keyword for tkWord, character for tkPunct and tkOp
}

func makeToken(pos, end int, kind tokKind, flags, v uint8) token {
	return token{pos: int32(pos), end: int32(end), kf: uint8(kind) | flags, v: v}
}

// kind returns the token's lexical class.
func (t token) kind() tokKind { return tokKind(t.kf & kindMask) }

// flags returns the token's flags.
func (t token) flags() uint8 { return t.kf &^ kindMask }

// kw returns the keyword of a word, kwNone for anything else.
func (t token) kw() keyword {
	if t.kind() != tkWord {
		return kwNone
	}
	return keyword(t.v)
}

// ch returns the character of a tkPunct or tkOp token.
func (t token) ch() byte { return t.v }

// is reports whether t is the punctuation character ch.
func (t token) is(ch byte) bool { return t.kind() == tkPunct && t.v == ch }

// isKw reports whether t is the unquoted keyword k.
func (t token) isKw(k keyword) bool { return t.kind() == tkWord && keyword(t.v) == k }

// isNameStart reports whether t can be (the first part of) a name: a
// quoted identifier or an unquoted word that is not reserved.
func (t token) isNameStart() bool {
	k := t.kind()
	return k == tkQuoted || (k == tkWord && !keyword(t.v).reserved())
}

// endsStatement reports whether t ends the (first) statement.
func (t token) endsStatement() bool { return t.kind() == tkEOF || t.is(';') }

// lookahead is the number of tokens the lexer can buffer for peeking.
const lookahead = 4

// lexer turns SQL text into tokens on demand, with a few tokens of
// lookahead. It never allocates. Every token it produces costs one unit of
// budget; when the budget is exhausted it reports EOF and sets truncated.
type lexer struct {
	src       string
	off       int
	budget    int
	truncated bool
	ring      [lookahead]token
	head, n   uint
	lastEnd   int32 // end of the last token consumed
}

// peek returns the k-th token ahead (0 is the next one), k < lookahead.
func (l *lexer) peek(k uint) token {
	for l.n <= k {
		l.ring[(l.head+l.n)%lookahead] = l.scan()
		l.n++
	}
	return l.ring[(l.head+k)%lookahead]
}

// next consumes and returns the next token.
func (l *lexer) next() token {
	var t token
	if l.n == 0 {
		t = l.scan()
	} else {
		t = l.ring[l.head%lookahead]
		l.head++
		l.n--
	}
	l.lastEnd = t.end
	return t
}

// Byte classes, see byteClass.
const (
	bSpace = 1 << iota // white space
	bWord              // can start an unquoted identifier: letter, '_', any non-ASCII byte
	bDigit             // 0-9
	bUpper             // A-Z
	bHigh              // non-ASCII (>= 0x80)
)

// byteClass classifies bytes for the lexer. Every byte of a multi-byte
// UTF-8 sequence counts as a letter, so Unicode identifiers (and invalid
// UTF-8) stay within one word. It is built once and never modified.
var byteClass = func() (t [256]uint8) {
	for _, b := range []byte(" \t\n\r\f\v") {
		t[b] = bSpace
	}
	for b := 'a'; b <= 'z'; b++ {
		t[b] = bWord
	}
	for b := 'A'; b <= 'Z'; b++ {
		t[b] = bWord | bUpper
	}
	for b := '0'; b <= '9'; b++ {
		t[b] = bDigit
	}
	t['_'] = bWord
	for b := 0x80; b <= 0xff; b++ {
		t[b] = bWord | bHigh
	}
	return t
}()

// scan reads one token from src at off, skipping white space and comments.
func (l *lexer) scan() token {
	s := l.src
	i := l.off
	for i < len(s) {
		c := s[i]
		if byteClass[c]&bSpace != 0 {
			i++
			continue
		}
		if c == '-' && i+1 < len(s) && s[i+1] == '-' {
			j := strings.IndexByte(s[i+2:], '\n')
			if j < 0 {
				i = len(s)
			} else {
				i += 2 + j + 1
			}
			continue
		}
		if c == '/' && i+1 < len(s) && s[i+1] == '*' {
			// Trino's block comments do not nest.
			j := strings.Index(s[i+2:], "*/")
			if j < 0 {
				i = len(s)
			} else {
				i += 2 + j + 2
			}
			continue
		}
		break
	}
	if i >= len(s) || l.budget <= 0 {
		l.truncated = l.truncated || i < len(s)
		l.off = len(s)
		return makeToken(len(s), len(s), tkEOF, 0, 0)
	}
	l.budget--

	var (
		kind  tokKind
		flags uint8
		v     uint8
	)
	end := i + 1
	c := s[i]
	cls := byteClass[c]
	switch {
	case cls&bWord != 0:
		h := kwHash(0, c)
		for ; end < len(s); end++ {
			b := s[end]
			bc := byteClass[b]
			if bc&(bWord|bDigit) == 0 {
				break
			}
			cls |= bc
			h = kwHash(h, b)
		}
		kind = tkWord
		if cls&(bUpper|bHigh) != 0 {
			flags = flagFold
		}
		if cls&bHigh == 0 && end-i <= maxKeywordLen {
			v = uint8(lookupKeyword(s[i:end], h))
		}
	case c == '(' || c == ')' || c == ',' || c == ';':
		kind, v = tkPunct, c
	case c == '.':
		if end < len(s) && isDigit(s[end]) {
			kind = tkNumber
			end = scanNumber(s, i)
			break
		}
		kind, v = tkPunct, c
	case c == '\'':
		kind = tkString
		end, flags = scanDelimited(s, i, '\'')
	case c == '"' || c == '`':
		kind = tkQuoted
		end, flags = scanDelimited(s, i, c)
	case cls&bDigit != 0:
		kind = tkNumber
		end = scanNumber(s, i)
	default:
		kind, v = tkOp, c
	}
	l.off = end
	return makeToken(i, end, kind, flags, v)
}

// scanDelimited scans a token enclosed in q that starts at s[i] == q, where
// a doubled q stands for the character itself. It returns the end offset and
// flags; an unterminated token runs to the end of s.
func scanDelimited(s string, i int, q byte) (end int, flags uint8) {
	j := i + 1
	for {
		k := strings.IndexByte(s[j:], q)
		if k < 0 {
			return len(s), flags | flagUnterminated
		}
		j += k + 1
		if j < len(s) && s[j] == q {
			j++
			flags |= flagEscaped
			continue
		}
		return j, flags
	}
}

// scanNumber scans a numeric literal starting at s[i]. It is deliberately
// lenient: digits, letters and underscores (hex, exponents, 1_000), a
// decimal point followed by digits, and a sign after an exponent marker.
// Trino rejects identifiers that start with a digit, so treating such runs
// as numbers loses nothing.
func scanNumber(s string, i int) int {
	j := i
	for j < len(s) {
		b := s[j]
		switch {
		case byteClass[b]&(bWord|bDigit) != 0:
			j++
		case b == '.' && j+1 < len(s) && isDigit(s[j+1]):
			j++
		case (b == '+' || b == '-') && (s[j-1] == 'e' || s[j-1] == 'E') && j+1 < len(s) && isDigit(s[j+1]):
			j++
		default:
			return j
		}
	}
	return j
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

// quotedBody returns the text between the delimiters of a tkQuoted or
// tkString token, still escaped.
func quotedBody(src string, t token) string {
	if t.flags()&flagUnterminated != 0 {
		return src[t.pos+1 : t.end]
	}
	return src[t.pos+1 : t.end-1]
}

// stringValue returns the value of a tkString token with ” unescaped.
func stringValue(src string, t token) string {
	body := quotedBody(src, t)
	if t.flags()&flagEscaped == 0 {
		return body
	}
	return strings.ReplaceAll(body, "''", "'")
}

package sqlclass

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// FingerprintLen is the length of a fingerprint (hex digits).
const FingerprintLen = 32

// Fingerprint identifies a statement's shape, so that a query that blew up
// a cluster is recognised when it comes back with other literals: the
// text with every literal (string, number) replaced by ?, a list of
// literals collapsed to one ?, keywords and unquoted identifiers
// lower-cased, comments, white space and a trailing ';' dropped, hashed
// with SHA-256 (the first 16 bytes, in hex). Quoted identifiers keep their
// case. Like Classify it never panics and stops at MaxTokens tokens.
func Fingerprint(sql string) string {
	h := sha256.New()
	var buf []byte
	normalise(sql, func(tok string) {
		buf = append(buf[:0], tok...)
		buf = append(buf, ' ')
		h.Write(buf)
	})
	sum := h.Sum(nil)
	return hex.EncodeToString(sum[:FingerprintLen/2])
}

// Normalised is the text Fingerprint hashes (tokens separated by one
// space), cut at max bytes; for showing an operator what a fingerprint
// stands for.
func Normalised(sql string, max int) string {
	var b strings.Builder
	normalise(sql, func(tok string) {
		if b.Len() >= max {
			return
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(tok)
	})
	s := b.String()
	if len(s) > max {
		s = s[:max]
	}
	return s
}

// normalise calls emit with each normalised token of the first statement.
func normalise(sql string, emit func(string)) {
	if len(sql) > maxInput {
		sql = sql[:maxInput]
	}
	lx := lexer{src: sql, budget: MaxTokens}
	// The last token emitted, to collapse "?, ?, ?" to "?".
	var last string
	out := func(tok string) {
		emit(tok)
		last = tok
	}
	var pending bool // a ',' after a '?' is held back
	var lower []byte
	for {
		t := lx.next()
		if t.kind() == tkEOF || (t.is(';') && lx.peek(0).kind() == tkEOF) {
			break
		}
		switch t.kind() {
		case tkString, tkNumber:
			if pending {
				pending = false // "?, ?": the second ? and its comma are dropped
				continue
			}
			out("?")
			continue
		case tkPunct:
			if t.ch() == ',' && last == "?" {
				if n := lx.peek(0); n.kind() == tkString || n.kind() == tkNumber {
					pending = true
					continue
				}
			}
		}
		if pending {
			out(",")
			pending = false
		}
		text := sql[t.pos:t.end]
		if t.kind() == tkWord && t.flags()&flagFold != 0 {
			lower = appendLower(lower[:0], text)
			text = string(lower)
		}
		out(text)
	}
	if pending {
		out(",")
	}
}

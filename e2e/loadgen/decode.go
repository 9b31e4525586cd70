package loadgen

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// queryResults is the part of a QueryResults the load generator reads.
type queryResults struct {
	ID      string `json:"id"`
	NextURI string `json:"nextUri"`
	Stats   struct {
		State string `json:"state"`
	} `json:"stats"`
	Error *struct {
		ErrorName string `json:"errorName"`
	} `json:"error"`
}

// decodeResults decodes the fields of a QueryResults the load generator
// reads, with the result and error behaviour of json.Unmarshal into a
// queryResults (FuzzDecodeResults checks this), but several times faster:
// the values it does not need (above all "data") are validated and skipped
// by a single pass over the bytes instead of encoding/json's general
// scanner, which would otherwise dominate the load generator's CPU use.
func decodeResults(body []byte) (queryResults, error) {
	var qr queryResults
	d := decoder{b: body}
	d.ws()
	switch {
	case d.literal("null"):
	case d.peek() == '{':
		d.object(0, func(key []byte) {
			switch {
			case bytes.EqualFold(key, keyID):
				d.stringInto(&qr.ID)
			case bytes.EqualFold(key, keyNextURI):
				d.stringInto(&qr.NextURI)
			case bytes.EqualFold(key, keyStats):
				d.objectOrNull(func(key []byte) {
					if bytes.EqualFold(key, keyState) {
						d.stringInto(&qr.Stats.State)
					} else {
						d.value(2)
					}
				})
			case bytes.EqualFold(key, keyError):
				if d.literal("null") {
					qr.Error = nil
					return
				}
				if d.peek() != '{' {
					d.fail("error is not an object")
					return
				}
				if qr.Error == nil {
					qr.Error = &struct {
						ErrorName string `json:"errorName"`
					}{}
				}
				e := qr.Error
				d.object(1, func(key []byte) {
					if bytes.EqualFold(key, keyErrorName) {
						d.stringInto(&e.ErrorName)
					} else {
						d.value(2)
					}
				})
			default:
				d.value(1)
			}
		})
	default:
		d.fail("not a JSON object")
	}
	d.ws()
	if d.err == nil && d.i < len(d.b) {
		d.fail("data after the top-level value")
	}
	if d.err != nil {
		return queryResults{}, d.err
	}
	return qr, nil
}

// The keys decodeResults reads, matched case-insensitively like
// encoding/json does.
var (
	keyID        = []byte("id")
	keyNextURI   = []byte("nextUri")
	keyStats     = []byte("stats")
	keyState     = []byte("state")
	keyError     = []byte("error")
	keyErrorName = []byte("errorName")
)

// maxDepth is encoding/json's nesting limit.
const maxDepth = 10000

// decoder is a validating single-pass JSON reader. After the first error
// every method is a no-op.
type decoder struct {
	b   []byte
	i   int
	err error
}

func (d *decoder) fail(msg string) {
	if d.err == nil {
		d.err = fmt.Errorf("decoding QueryResults at byte %d: %s", d.i, msg)
	}
	d.i = len(d.b)
}

func (d *decoder) peek() byte {
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

func (d *decoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// literal consumes lit if the input continues with it.
func (d *decoder) literal(lit string) bool {
	if d.err == nil && len(d.b)-d.i >= len(lit) && string(d.b[d.i:d.i+len(lit)]) == lit {
		d.i += len(lit)
		return true
	}
	return false
}

// value validates and skips any JSON value; depth is the nesting of the
// enclosing containers.
func (d *decoder) value(depth int) {
	if d.err != nil {
		return
	}
	switch c := d.peek(); {
	case c == '{':
		d.object(depth, nil)
	case c == '[':
		d.array(depth)
	case c == '"':
		d.str(false)
	case c == '-' || (c >= '0' && c <= '9'):
		d.number()
	case d.literal("true"), d.literal("false"), d.literal("null"):
	default:
		d.fail("invalid value")
	}
}

// object reads {"key": value, ...}; member is called positioned at each
// value (after the colon and whitespace) and must consume it. A nil member
// skips the values.
func (d *decoder) object(depth int, member func(key []byte)) {
	if depth+1 > maxDepth {
		d.fail("exceeded max depth")
		return
	}
	d.i++ // '{'
	d.ws()
	if d.peek() == '}' {
		d.i++
		return
	}
	for d.err == nil {
		if d.peek() != '"' {
			d.fail("object key is not a string")
			return
		}
		key := d.str(member != nil)
		d.ws()
		if d.peek() != ':' {
			d.fail("missing colon after object key")
			return
		}
		d.i++
		d.ws()
		if member != nil {
			member(key)
		} else {
			d.value(depth + 1)
		}
		d.ws()
		switch d.peek() {
		case ',':
			d.i++
			d.ws()
		case '}':
			d.i++
			return
		default:
			d.fail("missing comma or } in object")
		}
	}
}

// objectOrNull reads an object into member, or null (a no-op, as in
// encoding/json for a struct).
func (d *decoder) objectOrNull(member func(key []byte)) {
	if d.literal("null") {
		return
	}
	if d.peek() != '{' {
		d.fail("stats is not an object")
		return
	}
	d.object(1, member)
}

func (d *decoder) array(depth int) {
	if depth+1 > maxDepth {
		d.fail("exceeded max depth")
		return
	}
	d.i++ // '['
	d.ws()
	if d.peek() == ']' {
		d.i++
		return
	}
	for d.err == nil {
		d.value(depth + 1)
		d.ws()
		switch d.peek() {
		case ',':
			d.i++
			d.ws()
		case ']':
			d.i++
			return
		default:
			d.fail("missing comma or ] in array")
		}
	}
}

// stringInto reads a string into dst, or null (leaving dst unchanged).
func (d *decoder) stringInto(dst *string) {
	if d.literal("null") {
		return
	}
	if d.peek() != '"' {
		d.fail("value is not a string")
		return
	}
	s := d.str(true)
	if d.err == nil {
		*dst = string(s)
	}
}

// str reads and validates a string token. With want set it returns the
// content: plain ASCII strings as a slice of the input, those with escapes
// or non-ASCII bytes decoded by encoding/json so that escapes, surrogates
// and invalid UTF-8 are treated exactly as it does. Without want it only
// skips the token and returns nil.
func (d *decoder) str(want bool) []byte {
	start := d.i
	d.i++ // opening quote
	plain := true
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			tok := d.b[start:d.i]
			if !want {
				return nil
			}
			if plain {
				return tok[1 : len(tok)-1]
			}
			var s string
			if err := json.Unmarshal(tok, &s); err != nil {
				d.fail("invalid string: " + err.Error())
				return nil
			}
			return []byte(s)
		case c < 0x20:
			d.fail("control character in string")
			return nil
		case c == '\\':
			plain = false
			d.i++
			switch d.peek() {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				d.i++
			case 'u':
				if len(d.b)-d.i < 5 || !isHex4(d.b[d.i+1:d.i+5]) {
					d.fail("invalid \\u escape")
					return nil
				}
				d.i += 5
			default:
				d.fail("invalid escape")
				return nil
			}
		default:
			if c >= 0x80 {
				plain = false
			}
			d.i++
		}
	}
	d.fail("unterminated string")
	return nil
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// number validates -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func (d *decoder) number() {
	if d.peek() == '-' {
		d.i++
	}
	switch c := d.peek(); {
	case c == '0':
		d.i++
	case c >= '1' && c <= '9':
		d.digits()
	default:
		d.fail("invalid number")
		return
	}
	if d.peek() == '.' {
		d.i++
		if !d.digits() {
			d.fail("invalid number fraction")
			return
		}
	}
	if c := d.peek(); c == 'e' || c == 'E' {
		d.i++
		if c := d.peek(); c == '+' || c == '-' {
			d.i++
		}
		if !d.digits() {
			d.fail("invalid number exponent")
		}
	}
}

// digits consumes [0-9]* and reports whether there was at least one.
func (d *decoder) digits() bool {
	start := d.i
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		d.i++
	}
	return d.i > start
}

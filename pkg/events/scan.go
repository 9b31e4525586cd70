package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// reader walks one JSON document once. A completed event is 100-200 KiB
// (the plan and the stage and operator statistics) of which Parse keeps a
// few hundred bytes: encoding/json validated it, scanned it again to
// decode it, and once more for every nested object decoded by its own
// Unmarshal (1.4 ms for a small tpch query's event). The reader validates
// everything it passes over as encoding/json does (RFC 8259, at most
// maxDepth levels) without decoding it, and hands the members Parse keeps,
// a few short values, to their types' decoders.
type reader struct {
	b     []byte
	i     int
	depth int
}

// maxDepth is encoding/json's limit on nested arrays and objects.
const maxDepth = 10000

// errEnd is a document cut short (encoding/json's wording).
var errEnd = errors.New("unexpected end of JSON input")

func (r *reader) syntax(what string) error {
	if r.i >= len(r.b) {
		return errEnd
	}
	return fmt.Errorf("invalid character %q %s (offset %d)", r.b[r.i], what, r.i)
}

// space skips JSON whitespace.
func (r *reader) space() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// peek is the next byte (0 at the end).
func (r *reader) peek() byte {
	if r.i < len(r.b) {
		return r.b[r.i]
	}
	return 0
}

// value passes over one value (the reader is on its first byte).
func (r *reader) value() error {
	switch c := r.peek(); {
	case c == '{':
		return r.object(nil)
	case c == '[':
		return r.array()
	case c == '"':
		_, _, err := r.str()
		return err
	case c == '-' || (c >= '0' && c <= '9'):
		return r.number()
	case c == 't':
		return r.literal("true")
	case c == 'f':
		return r.literal("false")
	case c == 'n':
		return r.literal("null")
	default:
		return r.syntax("looking for beginning of value")
	}
}

// raw passes over one value and returns its bytes.
func (r *reader) raw() ([]byte, error) {
	start := r.i
	if err := r.value(); err != nil {
		return nil, err
	}
	return r.b[start:r.i], nil
}

// leaf decodes one value with its type's decoder.
func (r *reader) leaf(u json.Unmarshaler) error {
	v, err := r.raw()
	if err != nil {
		return err
	}
	return u.UnmarshalJSON(v)
}

// leaf is a member Parse keeps: its name and where it is decoded.
type leaf struct {
	name string
	to   json.Unmarshaler
}

// field decodes the value of the member named k into the leaf of that name
// (none: the value is passed over by the caller).
func (r *reader) field(k []byte, leaves ...leaf) error {
	for _, l := range leaves {
		if named(k, l.name) {
			return r.leaf(l.to)
		}
	}
	return nil
}

// member is called with the reader on a member's value; it may read the
// value (raw, leaf, object), and a value it leaves is passed over.
type member func(r *reader, key []byte) error

// object reads an object, calling m (nil: none) for each member.
func (r *reader) object(m member) error {
	if err := r.open(); err != nil {
		return err
	}
	r.i++ // '{'
	r.space()
	if r.peek() == '}' {
		r.i++
		r.depth--
		return nil
	}
	for {
		if r.peek() != '"' {
			return r.syntax("looking for beginning of object key string")
		}
		start, end, err := r.str()
		if err != nil {
			return err
		}
		r.space()
		if r.peek() != ':' {
			return r.syntax("after object key")
		}
		r.i++
		r.space()
		at := r.i
		if m != nil {
			if err := m(r, r.b[start:end]); err != nil {
				return err
			}
		}
		if r.i == at {
			if err := r.value(); err != nil {
				return err
			}
		}
		r.space()
		switch r.peek() {
		case ',':
			r.i++
			r.space()
		case '}':
			r.i++
			r.depth--
			return nil
		default:
			return r.syntax("after object key:value pair")
		}
	}
}

func (r *reader) array() error {
	if err := r.open(); err != nil {
		return err
	}
	r.i++ // '['
	r.space()
	if r.peek() == ']' {
		r.i++
		r.depth--
		return nil
	}
	for {
		if err := r.value(); err != nil {
			return err
		}
		r.space()
		switch r.peek() {
		case ',':
			r.i++
			r.space()
		case ']':
			r.i++
			r.depth--
			return nil
		default:
			return r.syntax("after array element")
		}
	}
}

func (r *reader) open() error {
	if r.depth++; r.depth > maxDepth {
		return fmt.Errorf("exceeded max depth (offset %d)", r.i)
	}
	return nil
}

// str passes over a string and returns the bounds of its contents (still
// escaped).
func (r *reader) str() (start, end int, err error) {
	r.i++ // '"'
	start = r.i
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			end = r.i
			r.i++
			return start, end, nil
		case c == '\\':
			r.i++
			switch r.peek() {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				r.i++
			case 'u':
				r.i++
				for range 4 {
					if !isHex(r.peek()) {
						return 0, 0, r.syntax("in \\u hexadecimal character escape")
					}
					r.i++
				}
			default:
				return 0, 0, r.syntax("in string escape code")
			}
		case c < 0x20:
			return 0, 0, r.syntax("in string literal")
		default:
			r.i++
		}
	}
	return 0, 0, errEnd
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// number passes over -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func (r *reader) number() error {
	if r.peek() == '-' {
		r.i++
	}
	switch c := r.peek(); {
	case c == '0':
		r.i++
	case c >= '1' && c <= '9':
		r.digits()
	default:
		return r.syntax("in numeric literal")
	}
	if r.peek() == '.' {
		r.i++
		if !isDigit(r.peek()) {
			return r.syntax("after decimal point in numeric literal")
		}
		r.digits()
	}
	if c := r.peek(); c == 'e' || c == 'E' {
		r.i++
		if c := r.peek(); c == '+' || c == '-' {
			r.i++
		}
		if !isDigit(r.peek()) {
			return r.syntax("in exponent of numeric literal")
		}
		r.digits()
	}
	return nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (r *reader) digits() {
	for isDigit(r.peek()) {
		r.i++
	}
}

func (r *reader) literal(word string) error {
	for k := 0; k < len(word); k++ {
		if r.peek() != word[k] {
			return r.syntax("in literal " + word)
		}
		r.i++
	}
	return nil
}

// document reads b as one object followed by nothing but whitespace.
func (r *reader) document(m member) error {
	r.space()
	if err := r.object(m); err != nil {
		return err
	}
	r.space()
	if r.i < len(r.b) {
		return r.syntax("after top-level value")
	}
	return nil
}

// named reports whether a member's key (as read, still escaped) is name,
// as encoding/json matches a key to a field: case-insensitively, after
// unescaping.
func named(key []byte, name string) bool {
	if bytes.IndexByte(key, '\\') < 0 {
		return bytes.EqualFold(key, []byte(name))
	}
	var k string
	quoted := make([]byte, 0, len(key)+2)
	quoted = append(append(append(quoted, '"'), key...), '"')
	if json.Unmarshal(quoted, &k) != nil {
		return false
	}
	return bytes.EqualFold([]byte(k), []byte(name))
}

// section reads an object-valued member into o, calling m for each of its
// members. A value that is not an object leaves o as it was (the member
// is passed over); an object replaces what o held.
func section[T any](r *reader, o *object[T], m func(v *T, r *reader, key []byte) error) error {
	if r.peek() != '{' {
		return nil
	}
	var v T
	if err := r.object(func(r *reader, key []byte) error { return m(&v, r, key) }); err != nil {
		return err
	}
	o.v, o.ok = v, true
	return nil
}

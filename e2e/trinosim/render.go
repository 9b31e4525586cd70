package trinosim

import (
	"strconv"
	"unicode/utf8"
)

// Query states as Trino names them.
const (
	stateQueued   = "QUEUED"
	stateRunning  = "RUNNING"
	stateFinished = "FINISHED"
	stateFailed   = "FAILED"
)

// statsJSON renders a StatementStats object with every counter at zero.
func statsJSON(state string, queued, scheduled bool) []byte {
	b := []byte(`{"state":"` + state + `","queued":`)
	b = strconv.AppendBool(b, queued)
	b = append(b, `,"scheduled":`...)
	b = strconv.AppendBool(b, scheduled)
	b = append(b, `,"nodes":0,"totalSplits":0,"queuedSplits":0,"runningSplits":0,"completedSplits":0,`+
		`"cpuTimeMillis":0,"wallTimeMillis":0,"queuedTimeMillis":0,"elapsedTimeMillis":0,`+
		`"processedRows":0,"processedBytes":0,"physicalInputBytes":0,"physicalWrittenBytes":0,`+
		`"peakMemoryBytes":0,"spilledBytes":0}`...)
	return b
}

// queryError is the error object of a failed QueryResults.
type queryError struct {
	message string
	code    int
	name    string
	typ     string
}

var (
	errCanceled = queryError{"Query was canceled", 3, "USER_CANCELED", "USER_ERROR"}
	errSyntax   = queryError{"line 1:1: simulated failure (trinosim FailQuery)", 1, "SYNTAX_ERROR", "USER_ERROR"}
	// errAbandoned is only reported by events: the query is gone.
	errAbandoned = queryError{"Query was abandoned by the client, as it may have exited or stopped checking for query results", 2, "ABANDONED_QUERY", "USER_ERROR"}
)

func (e queryError) appendJSON(b []byte) []byte {
	b = append(b, `{"message":`...)
	b = appendJSONString(b, e.message)
	b = append(b, `,"errorCode":`...)
	b = strconv.AppendInt(b, int64(e.code), 10)
	b = append(b, `,"errorName":"`...)
	b = append(b, e.name...)
	b = append(b, `","errorType":"`...)
	b = append(b, e.typ...)
	return append(b, `"}`...)
}

// columnsJSON renders the columns array: bigint for even, varchar for odd
// column numbers, named c0, c1, ...
func columnsJSON(columns int) []byte {
	b := []byte{'['}
	for c := 0; c < columns; c++ {
		if c > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":"c`...)
		b = strconv.AppendInt(b, int64(c), 10)
		if c%2 == 0 {
			b = append(b, `","type":"bigint","typeSignature":{"rawType":"bigint","arguments":[]}}`...)
		} else {
			b = append(b, `","type":"varchar","typeSignature":{"rawType":"varchar","arguments":[{"kind":"LONG","value":2147483647}]}}`...)
		}
	}
	return append(b, ']')
}

// dataJSON renders the data array of page number page (0-based): the bigint
// columns hold the row number, the varchar columns "r{row}c{column}".
func dataJSON(page, rows, columns int) []byte {
	b := make([]byte, 0, rows*columns*10+2)
	b = append(b, '[')
	for r := 0; r < rows; r++ {
		if r > 0 {
			b = append(b, ',')
		}
		row := int64(page)*int64(rows) + int64(r)
		b = append(b, '[')
		for c := 0; c < columns; c++ {
			if c > 0 {
				b = append(b, ',')
			}
			if c%2 == 0 {
				b = strconv.AppendInt(b, row, 10)
			} else {
				b = append(b, `"r`...)
				b = strconv.AppendInt(b, row, 10)
				b = append(b, 'c')
				b = strconv.AppendInt(b, int64(c), 10)
				b = append(b, '"')
			}
		}
		b = append(b, ']')
	}
	return append(b, ']')
}

// appendJSONString appends s as a quoted JSON string.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	b = appendJSONEscaped(b, s)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// appendJSONEscaped appends s escaped for the inside of a JSON string.
// Invalid UTF-8 becomes U+FFFD so the document is always valid JSON.
func appendJSONEscaped(b []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	return append(b, s[start:]...)
}

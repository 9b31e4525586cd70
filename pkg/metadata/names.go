package metadata

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// splitName splits catalog.schema.table into its three parts. A part may be
// double-quoted, with "" for a quote inside (as package sqlclass writes a
// part that contains '.' or '"'). Anything else (two or four parts, an
// empty part, an unterminated quote) is not a table name.
func splitName(name string) ([3]string, bool) {
	var parts [3]string
	n := 0
	for i := 0; ; {
		if n == len(parts) {
			return parts, false
		}
		var p string
		if i < len(name) && name[i] == '"' {
			var b strings.Builder
			for i++; ; {
				if i >= len(name) {
					return parts, false // unterminated
				}
				if name[i] == '"' {
					if i+1 < len(name) && name[i+1] == '"' {
						b.WriteByte('"')
						i += 2
						continue
					}
					i++
					break
				}
				b.WriteByte(name[i])
				i++
			}
			p = b.String()
		} else {
			end := strings.IndexByte(name[i:], '.')
			if end < 0 {
				end = len(name) - i
			}
			p = name[i : i+end]
			i += end
			if strings.Contains(p, `"`) {
				return parts, false
			}
		}
		if p == "" {
			return parts, false
		}
		parts[n] = p
		n++
		if i == len(name) {
			return parts, n == len(parts)
		}
		if name[i] != '.' {
			return parts, false
		}
		i++
	}
}

// trinoIdent quotes a Trino identifier: "..." with "" for a quote, so no
// name can end the identifier early.
func trinoIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// omQuote quotes one part of an OpenMetadata fully qualified name as
// OpenMetadata's FullyQualifiedName.quoteName does: a part containing '.'
// is wrapped in double quotes; a part containing '"' has each one escaped
// as \" (and is not wrapped: OpenMetadata's grammar has no escape inside a
// quoted part, so a part with both cannot be named and is written the way
// OpenMetadata itself writes it).
func omQuote(s string) string {
	switch {
	case strings.Contains(s, `"`):
		return strings.ReplaceAll(s, `"`, `\"`)
	case strings.Contains(s, "."):
		return `"` + s + `"`
	}
	return s
}

// eachTable looks up the tables one at a time each, at most parallel at
// once: a name that is not catalog.schema.table is skipped, a table one
// finds is in the answer (even with an error, for what it could not
// read), and the errors come back joined, each with its table. When ctx
// ends, the lookups started are waited for and the answer so far returned.
func eachTable(ctx context.Context, tables []string, parallel int, one func(ctx context.Context, parts [3]string) (Table, bool, error)) (map[string]Table, error) {
	var (
		mu   sync.Mutex
		out  = map[string]Table{}
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, parallel)
	)
	for _, name := range tables {
		parts, ok := splitName(name)
		if !ok {
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return out, errors.Join(append(errs, ctx.Err())...)
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			t, found, err := one(ctx, parts)
			mu.Lock()
			defer mu.Unlock()
			if found {
				out[name] = t
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

package passwordfile

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"time"

	"github.com/switchyard-gw/switchyard/pkg/filewatch"
)

// DefaultCacheSize is how many answers an Authenticator keeps (Trino's
// file.auth-token-cache.max-size default).
const DefaultCacheSize = 1000

// Authenticator checks credentials against the current password file,
// remembering its answers until the file changes. It is safe for
// concurrent use.
type Authenticator struct {
	mu    sync.RWMutex
	file  *File
	cache map[[sha256.Size]byte]bool
	max   int
	// path and stamp are the file Open read, for Watch.
	path, stamp string
}

// NewAuthenticator checks against f, keeping at most cacheSize answers
// (DefaultCacheSize when not positive).
func NewAuthenticator(f *File, cacheSize int) *Authenticator {
	if cacheSize <= 0 {
		cacheSize = DefaultCacheSize
	}
	return &Authenticator{file: f, cache: map[[sha256.Size]byte]bool{}, max: cacheSize}
}

// Check reports whether password is user's. The cache is keyed by a
// SHA-256 of the pair, so no password is kept in memory.
func (a *Authenticator) Check(user, password string) bool {
	key := cacheKey(user, password)
	a.mu.RLock()
	f := a.file
	ok, hit := a.cache[key]
	a.mu.RUnlock()
	if hit {
		return ok
	}
	ok = f.Check(user, password)
	a.mu.Lock()
	if a.file == f { // not replaced meanwhile
		if len(a.cache) >= a.max {
			clear(a.cache)
		}
		a.cache[key] = ok
	}
	a.mu.Unlock()
	return ok
}

// Replace swaps in a new file and forgets every cached answer.
func (a *Authenticator) Replace(f *File) {
	a.mu.Lock()
	a.file = f
	clear(a.cache)
	a.mu.Unlock()
}

// Users is the number of users in the current file.
func (a *Authenticator) Users() int {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.file.Users()
}

func cacheKey(user, password string) [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte(user))
	h.Write([]byte{0})
	h.Write([]byte(password))
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

// Open loads the password file at path (an error names the line at
// fault); Watch keeps it current.
func Open(path string, cacheSize int) (*Authenticator, error) {
	st, err := filewatch.Stamp(path)
	if err != nil {
		return nil, fmt.Errorf("password file: %w", err)
	}
	f, err := Load(path)
	if err != nil {
		return nil, err
	}
	a := NewAuthenticator(f, cacheSize)
	a.path, a.stamp = path, st
	return a, nil
}

// Watch checks the file Open read every interval (Trino's
// file.refresh-period; 5s when not positive) until ctx ends, and reads it
// again once a change has settled (filewatch). A file that fails to read
// or parse keeps the previous one in force and is reported to onError
// (its message names the line, never a hash).
func (a *Authenticator) Watch(ctx context.Context, interval time.Duration, onError func(error)) {
	filewatch.Poll(ctx, interval, []string{a.path}, a.stamp, func() error {
		f, err := Load(a.path)
		if err != nil {
			return err
		}
		a.Replace(f)
		return nil
	}, onError)
}

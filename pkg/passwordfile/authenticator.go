package passwordfile

import (
	"context"
	"crypto/sha256"
	"os"
	"sync"
	"time"
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

// Watch loads the password file at path and, until ctx ends, checks it
// every interval (Trino's file.refresh-period; 5s when not positive). A
// file whose size or modification time changed is read again once it has
// stayed unchanged for one more interval, so a file caught half-written
// is not taken (a change is in force within two intervals). A file that
// fails to read or parse keeps the previous one in force and is reported
// to onError (its message names the line, never a hash).
func Watch(ctx context.Context, path string, interval time.Duration, cacheSize int, onError func(error)) (*Authenticator, error) {
	f, err := Load(path)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	a := NewAuthenticator(f, cacheSize)
	if interval <= 0 {
		interval = 5 * time.Second
	}
	report := func(err error) {
		if onError != nil {
			onError(err)
		}
	}
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		loaded, pending := st, os.FileInfo(nil)
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			st, err := os.Stat(path)
			switch {
			case err != nil:
				report(err)
				continue
			case same(st, loaded):
				pending = nil
				continue
			case pending == nil || !same(st, pending):
				pending = st // changed: wait for it to settle
				continue
			}
			loaded, pending = st, nil
			f, err := Load(path)
			if err != nil {
				report(err)
				continue
			}
			a.Replace(f)
		}
	}()
	return a, nil
}

func same(a, b os.FileInfo) bool {
	return a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

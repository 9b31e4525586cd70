package passwordfile

import (
	"context"
	"crypto/pbkdf2"
	"crypto/sha1" // Trino's PBKDF2 hashes use HMAC-SHA1
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/switchyard-gw/switchyard/e2e/harness"
)

// Hashes from Trino's own password store tests (TestPasswordStore): the
// file format is Trino's, so Trino's hashes must verify here.
const (
	trinoBcrypt = "$2y$10$BqTb8hScP5DfcpmHo5PeyugxHz5Ky/qf3wrpD7SNm8sWuA3VlGqsa"                                                                                             // user123
	trinoPBKDF2 = "1000:5b4240333032306164:f38d165fce8ce42f59d366139ef5d9e1ca1247f0e06e503ee1a611dd9ec40876bb5edb8409f5abe5504aab6628e70cfb3d3a18e99d70357d295002c3d0a308a0" // password
)

func mustParse(t *testing.T, lines ...string) *File {
	t.Helper()
	f, err := Parse(strings.NewReader(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestTrinoHashes(t *testing.T) {
	f := mustParse(t, "userbcrypt:"+trinoBcrypt, "", "  userpbkdf2:"+trinoPBKDF2+"  ")
	for _, c := range []struct {
		user, password string
		want           bool
	}{
		{"userbcrypt", "user123", true},
		{"userbcrypt", "user999", false},
		{"userbcrypt", "password", false},
		{"userpbkdf2", "password", true},
		{"userpbkdf2", "password999", false},
		{"userpbkdf2", "user123", false},
		{"baduser", "user123", false},
		{"baduser", "password", false},
		{"userbcrypt", "", false},
	} {
		if got := f.Check(c.user, c.password); got != c.want {
			t.Errorf("Check(%q, %q) = %v, want %v", c.user, c.password, got, c.want)
		}
	}
	if f.Users() != 2 {
		t.Errorf("users = %d, want 2", f.Users())
	}
}

func TestGeneratedHashes(t *testing.T) {
	b, err := bcrypt.GenerateFromPassword([]byte("s3cret:with colon"), MinBcryptCost)
	if err != nil {
		t.Fatal(err)
	}
	y := "$2y$" + string(b[4:]) // htpasswd -B writes $2y$; the hash is the same
	salt := []byte("0123456789abcdef")
	key, err := pbkdf2.Key(sha1.New, "pässwörd", salt, 1000, 32)
	if err != nil {
		t.Fatal(err)
	}
	p := "1000:" + hex.EncodeToString(salt) + ":" + hex.EncodeToString(key)
	f := mustParse(t, "a:"+string(b), "y:"+y, "p:"+p)
	for _, u := range []string{"a", "y"} {
		if !f.Check(u, "s3cret:with colon") || f.Check(u, "s3cret") {
			t.Errorf("bcrypt user %s: wrong answers", u)
		}
	}
	if !f.Check("p", "pässwörd") || f.Check("p", "passwort") {
		t.Error("pbkdf2: wrong answers")
	}
}

func TestInvalidFiles(t *testing.T) {
	weak, err := bcrypt.GenerateFromPassword([]byte("x"), 4)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		lines []string
		want  string
	}{
		{"no colon", []string{"", "junk"}, "line 2: expected two parts"},
		{"duplicate", []string{"abc:" + trinoBcrypt, "xyz:" + trinoBcrypt, "abc:" + trinoPBKDF2}, `line 3: duplicate user "abc"`},
		{"unknown algorithm", []string{"x:x"}, "line 1 (user \"x\"): password hashing algorithm cannot be determined"},
		{"bad bcrypt", []string{"x:$2y$xxx"}, "invalid bcrypt password"},
		{"bcrypt version", []string{"x:$2q$10$BqTb8hScP5DfcpmHo5PeyugxHz5Ky/qf3wrpD7SNm8sWuA3VlGqsa"}, "expected $2a$, $2b$ or $2y$"},
		{"weak bcrypt", []string{"x:" + string(weak)}, "minimum cost of a bcrypt password is 8 (this one is 4)"},
		{"pbkdf2 parts", []string{"x:x:x"}, "invalid PBKDF2 password (expected iterations:salt:hash)"},
		{"pbkdf2 iterations", []string{"x:999:00:00"}, "minimum iterations of a PBKDF2 password is 1000 (this one has 999)"},
		{"pbkdf2 not a number", []string{"x:many:00:00"}, "iterations must be a positive integer"},
		{"pbkdf2 hex", []string{"x:1000:zz:00"}, "lower-case hex"},
		{"pbkdf2 upper hex", []string{"x:1000:AB:00"}, "lower-case hex"},
		{"pbkdf2 empty hash", []string{"x:1000:ab:"}, "empty hash"},
		{"empty user", []string{":" + trinoBcrypt}, "line 1: empty user name"},
		{"long line", []string{"x:" + strings.Repeat("a", maxLine+1)}, "longer than"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(strings.Join(c.lines, "\n")))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to contain %q", err, c.want)
			}
			if strings.Contains(err.Error(), trinoBcrypt) || strings.Contains(err.Error(), "BqTb8h") {
				t.Errorf("the error repeats a hash: %v", err)
			}
		})
	}
}

func TestEmptyFile(t *testing.T) {
	f := mustParse(t)
	if f.Users() != 0 || f.Check("", "") {
		t.Error("an empty file must know nobody")
	}
}

func TestAuthenticatorCache(t *testing.T) {
	a := NewAuthenticator(mustParse(t, "u:"+trinoBcrypt), 2)
	for range 3 {
		if !a.Check("u", "user123") || a.Check("u", "nope") {
			t.Fatal("wrong answer")
		}
	}
	if len(a.cache) > 2 {
		t.Errorf("cache holds %d answers, more than its size 2", len(a.cache))
	}
	// A cached answer is forgotten when the file is replaced.
	a.Replace(mustParse(t, "u:"+trinoPBKDF2))
	if a.Check("u", "user123") || !a.Check("u", "password") {
		t.Error("answers after Replace must come from the new file")
	}
	// Concurrent checks (run with -race).
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if a.Check("u", "password") != true || a.Check("u", "x"+string(rune('a'+i))) {
				t.Error("wrong concurrent answer")
			}
		}()
	}
	wg.Wait()
}

func TestWatchReloads(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "password.db")
	if err := os.WriteFile(path, []byte("alice:"+trinoBcrypt+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var errs []error
	a, err := Open(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.Watch(ctx, 20*time.Millisecond, func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() })
	}()
	defer func() { cancel(); <-done }()
	if !a.Check("alice", "user123") {
		t.Fatal("alice must log in with the first file")
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		if err := harness.Until(what, 5*time.Second, cond); err != nil {
			t.Fatal(err)
		}
	}
	// A new file with bob replaces alice.
	if err := os.WriteFile(path, []byte("bob:"+trinoPBKDF2+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor("bob", func() bool { return a.Check("bob", "password") })
	if a.Check("alice", "user123") {
		t.Error("alice was removed from the file and must not log in")
	}
	// An invalid file keeps bob and is reported.
	if err := os.WriteFile(path, []byte("bob:"+trinoPBKDF2+"\nbroken line with no colon and another length\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor("the error", func() bool { mu.Lock(); defer mu.Unlock(); return len(errs) > 0 })
	mu.Lock()
	if !strings.Contains(errs[0].Error(), "line 2") {
		t.Errorf("error %v should name line 2", errs[0])
	}
	mu.Unlock()
	if !a.Check("bob", "password") {
		t.Error("an invalid file must keep the previous one in force")
	}
}

func TestOpenRefusesInvalidFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "password.db")
	if _, err := Open(path, 0); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: error %v, want not-exist", err)
	}
	if err := os.WriteFile(path, []byte("x:x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, 0); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("invalid file: error %v, want line 1", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("u:" + trinoBcrypt + "\nv:" + trinoPBKDF2)
	f.Add("x:x:x")
	f.Add("x:$2y$04$")
	f.Add(":\n\n")
	f.Add("a:1000:00:0")
	f.Fuzz(func(t *testing.T, s string) {
		pf, err := Parse(strings.NewReader(s))
		if err != nil {
			if pf != nil {
				t.Fatal("a file and an error")
			}
			return
		}
		// Any parsed file answers without panicking. The fuzzer can write
		// costs that take years to check (bcrypt cost 31, a billion PBKDF2
		// iterations): those are checked only when cheap.
		for u, h := range pf.users {
			switch h := h.(type) {
			case pbkdf2Hash:
				if h.iterations > 20000 {
					continue
				}
			case bcryptHash:
				if c, err := bcrypt.Cost(h); err != nil || c > MinBcryptCost {
					continue
				}
			}
			_ = pf.Check(u, "x")
		}
	})
}

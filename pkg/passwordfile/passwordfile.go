// Package passwordfile checks user names and passwords against a file in
// the format of Trino's file password authenticator, so a team can point
// the gateway at the password file its coordinators already use.
//
// The file has one `user:hash` per line; blank lines are ignored. A hash
// is either bcrypt (`$2a$`, `$2b$` or `$2y$`, cost at least 8) or PBKDF2
// (`iterations:salt:hash`, salt and hash in lower-case hex, HMAC-SHA1 as
// Trino computes it, at least 1,000 iterations). The errors name the line
// and never repeat a hash.
//
// An Authenticator holds the current file and caches verified
// credentials (bcrypt is slow by design); Watch reloads the file when it
// changes and keeps the previous one while a new one is invalid.
package passwordfile

import (
	"bufio"
	"bytes"
	"crypto/pbkdf2"
	"crypto/sha1" // Trino's PBKDF2 hashes use HMAC-SHA1: compatibility requires it
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

const (
	// MinBcryptCost and MinPBKDF2Iterations are Trino's floors: a
	// weaker hash is an error, as it is for Trino.
	MinBcryptCost       = 8
	MinPBKDF2Iterations = 1000
	// maxLine bounds one line (a user name and a hash).
	maxLine = 64 << 10
)

// File is a parsed password file.
type File struct {
	users map[string]hash
}

type hash interface {
	matches(password string) bool
}

// Parse reads a password file.
func Parse(r io.Reader) (*File, error) {
	f := &File{users: map[string]hash{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		user, h, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("password file line %d: expected two parts for user and password (user:hash)", n)
		}
		if user == "" {
			return nil, fmt.Errorf("password file line %d: empty user name", n)
		}
		if _, dup := f.users[user]; dup {
			return nil, fmt.Errorf("password file line %d: duplicate user %q", n, user)
		}
		parsed, err := parseHash(h)
		if err != nil {
			return nil, fmt.Errorf("password file line %d (user %q): %w", n, user, err)
		}
		f.users[user] = parsed
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("password file: a line is longer than %d bytes", maxLine)
		}
		return nil, fmt.Errorf("password file: %w", err)
	}
	return f, nil
}

// Load reads and parses the password file at path.
func Load(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("password file: %w", err)
	}
	f, err := Parse(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// Users is the number of users in the file.
func (f *File) Users() int { return len(f.users) }

// Check reports whether password is user's. It does the slow hash work
// every time: Authenticator caches the answers.
func (f *File) Check(user, password string) bool {
	h, ok := f.users[user]
	return ok && h.matches(password)
}

func parseHash(s string) (hash, error) {
	if strings.HasPrefix(s, "$2") {
		return parseBcrypt(s)
	}
	if strings.Contains(s, ":") {
		return parsePBKDF2(s)
	}
	return nil, errors.New("password hashing algorithm cannot be determined (expected bcrypt $2y$... or PBKDF2 iterations:salt:hash)")
}

type bcryptHash []byte

func parseBcrypt(s string) (hash, error) {
	if len(s) < 4 || s[3] != '$' || !strings.ContainsRune("aby", rune(s[2])) {
		return nil, errors.New("invalid bcrypt password (expected $2a$, $2b$ or $2y$)")
	}
	cost, err := bcrypt.Cost([]byte(s))
	if err != nil {
		return nil, errors.New("invalid bcrypt password")
	}
	if cost < MinBcryptCost {
		return nil, fmt.Errorf("minimum cost of a bcrypt password is %d (this one is %d)", MinBcryptCost, cost)
	}
	return bcryptHash(s), nil
}

func (h bcryptHash) matches(password string) bool {
	return bcrypt.CompareHashAndPassword(h, []byte(password)) == nil
}

type pbkdf2Hash struct {
	iterations int
	salt, sum  []byte
}

func parsePBKDF2(s string) (hash, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return nil, errors.New("invalid PBKDF2 password (expected iterations:salt:hash)")
	}
	it, err := strconv.Atoi(parts[0])
	if err != nil || it <= 0 {
		return nil, errors.New("invalid PBKDF2 password: iterations must be a positive integer")
	}
	if it < MinPBKDF2Iterations {
		return nil, fmt.Errorf("minimum iterations of a PBKDF2 password is %d (this one has %d)", MinPBKDF2Iterations, it)
	}
	salt, err1 := decodeHex(parts[1])
	sum, err2 := decodeHex(parts[2])
	if err1 != nil || err2 != nil {
		return nil, errors.New("invalid PBKDF2 password: salt and hash must be lower-case hex")
	}
	if len(sum) == 0 {
		return nil, errors.New("invalid PBKDF2 password: empty hash")
	}
	return pbkdf2Hash{iterations: it, salt: salt, sum: sum}, nil
}

// decodeHex accepts lower-case hex only, like Trino's base16().lowerCase().
func decodeHex(s string) ([]byte, error) {
	if strings.ToLower(s) != s {
		return nil, errors.New("upper-case hex")
	}
	return hex.DecodeString(s)
}

func (h pbkdf2Hash) matches(password string) bool {
	key, err := pbkdf2.Key(sha1.New, password, h.salt, h.iterations, len(h.sum))
	return err == nil && subtle.ConstantTimeCompare(key, h.sum) == 1
}

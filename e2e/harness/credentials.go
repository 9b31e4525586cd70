package harness

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"sort"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// WritePasswordFile writes users (name -> password) as a password file in
// the format of Trino's file authenticator (bcrypt, cost 8), atomically.
func WritePasswordFile(path string, users map[string]string) error {
	names := make([]string, 0, len(users))
	for u := range users {
		names = append(names, u)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, u := range names {
		h, err := bcrypt.GenerateFromPassword([]byte(users[u]), 8)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s:%s\n", u, h)
	}
	if err := os.WriteFile(path+".tmp", []byte(b.String()), 0o600); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}

// JWTSigner signs RS256 tokens with a key made at test time.
type JWTSigner struct {
	Key *rsa.PrivateKey
	KID string
}

// NewJWTSigner makes a 2048-bit RSA key.
func NewJWTSigner(kid string) (*JWTSigner, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	return &JWTSigner{Key: k, KID: kid}, nil
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// JWKS is the JSON Web Key Set of the signer's public key.
func (s *JWTSigner) JWKS() []byte {
	pub := &s.Key.PublicKey
	doc, _ := json.Marshal(map[string]any{"keys": []map[string]any{{
		"kty": "RSA", "kid": s.KID, "alg": "RS256", "use": "sig",
		"n": b64url(pub.N.Bytes()), "e": b64url(big.NewInt(int64(pub.E)).Bytes()),
	}}})
	return doc
}

// Sign makes a token with the claims.
func (s *JWTSigner) Sign(claims map[string]any) (string, error) {
	h, _ := json.Marshal(map[string]any{"alg": "RS256", "typ": "JWT", "kid": s.KID})
	c, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	signing := b64url(h) + "." + b64url(c)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.Key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return signing + "." + b64url(sig), nil
}

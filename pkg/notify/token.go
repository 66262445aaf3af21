package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// PurposeUnsubscribe binds a token to the unsubscribe endpoint.
const PurposeUnsubscribe = "unsubscribe"

// The api serves unsubscribe links at these paths, with the token in the
// query (?token=). UnsubscribePath is the footer link: a GET shows a
// confirmation page. OneClickUnsubscribePath is the List-Unsubscribe target:
// a POST (RFC 8058 one-click) unsubscribes, a GET, from mail clients that
// open the link in a browser, shows the same confirmation page.
const (
	UnsubscribePath         = "/unsubscribe"
	OneClickUnsubscribePath = "/api/unsubscribe"
)

// UnsubscribeTTL is how long an unsubscribe link works. It outlives the
// longest term a watch can span, so a link in an old alert still works.
const UnsubscribeTTL = 90 * 24 * time.Hour

// MinKeyLen is the shortest key NewSigner accepts; a shorter key would be
// weaker than the 256-bit MAC it protects.
const MinKeyLen = 32

// Token errors returned by Verify.
var (
	ErrTokenInvalid = errors.New("notify: invalid token")
	ErrTokenExpired = errors.New("notify: token expired")
)

const (
	tokenVersion  = 1
	tokenPayload  = 1 + 8 + 8 // version, user ID, expiry (Unix seconds)
	tokenLen      = tokenPayload + sha256.Size
	tokenMACLabel = "pickmyclass-token-v1"
)

// Signer makes and checks stateless, expiring tokens that name a user for
// one purpose. A token is base64url(version ‖ user ID ‖ expiry ‖ MAC) where
// the MAC is HMAC-SHA256 over a label, the purpose and the payload; the
// purpose is not in the token, so a token made for one purpose fails the MAC
// for any other. Tokens are reusable until they expire: unsubscribing is
// idempotent, and a stateless link is what lets a mail client's one-click
// POST work without a session. A Signer is safe for concurrent use.
type Signer struct {
	key []byte
}

// NewSigner returns a Signer using key, which must be at least MinKeyLen
// bytes and should be used for nothing else.
func NewSigner(key []byte) (*Signer, error) {
	if len(key) < MinKeyLen {
		return nil, fmt.Errorf("notify: signing key is %d bytes, need at least %d", len(key), MinKeyLen)
	}
	return &Signer{key: append([]byte(nil), key...)}, nil
}

// Sign returns a URL-safe token naming userID for purpose, valid until
// expires (to the second).
func (s *Signer) Sign(userID int64, purpose string, expires time.Time) string {
	buf := make([]byte, tokenPayload, tokenLen)
	buf[0] = tokenVersion
	binary.BigEndian.PutUint64(buf[1:9], uint64(userID))
	binary.BigEndian.PutUint64(buf[9:17], uint64(expires.Unix()))
	buf = append(buf, s.mac(purpose, buf)...)
	return base64.RawURLEncoding.EncodeToString(buf)
}

// Verify returns the user ID in token if the token was made by this Signer's
// key for purpose and has not expired at now. Every malformed or forged
// token yields ErrTokenInvalid; expiry is reported only for authentic tokens,
// so it reveals nothing about forged ones.
func (s *Signer) Verify(token, purpose string, now time.Time) (int64, error) {
	if base64.RawURLEncoding.DecodedLen(len(token)) != tokenLen {
		return 0, ErrTokenInvalid
	}
	buf, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(buf) != tokenLen || buf[0] != tokenVersion {
		return 0, ErrTokenInvalid
	}
	payload, sum := buf[:tokenPayload], buf[tokenPayload:]
	if !hmac.Equal(sum, s.mac(purpose, payload)) {
		return 0, ErrTokenInvalid
	}
	userID := int64(binary.BigEndian.Uint64(payload[1:9]))
	expires := time.Unix(int64(binary.BigEndian.Uint64(payload[9:17])), 0)
	if now.After(expires) {
		return 0, ErrTokenExpired
	}
	return userID, nil
}

func (s *Signer) mac(purpose string, payload []byte) []byte {
	h := hmac.New(sha256.New, s.key)
	h.Write([]byte(tokenMACLabel))
	// The length prefix keeps purpose and payload from running into each
	// other, so no two (purpose, payload) pairs share a MAC input.
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(purpose)))
	h.Write(n[:])
	h.Write([]byte(purpose))
	h.Write(payload)
	return h.Sum(nil)
}

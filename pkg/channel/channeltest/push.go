package channeltest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/hkdf"

	"github.com/pickmyclass/pickmyclass/pkg/channel"
)

// VerifyWebhook checks a request the way a Standard Webhooks receiver
// does, written apart from channel.Sign so a test of one checks the other:
// the timestamp within five minutes of now and a v1 signature matching
// HMAC-SHA256 of "id.timestamp.body" under the secret.
func VerifyWebhook(secret string, h http.Header, body []byte, now time.Time) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	id, ts := h.Get("webhook-id"), h.Get("webhook-timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return err
	}
	if d := now.Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return errors.New("timestamp outside tolerance")
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	for _, sig := range strings.Fields(h.Get("webhook-signature")) {
		v, b64, ok := strings.Cut(sig, ",")
		if !ok || v != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return errors.New("no valid signature")
}

// PushService is a push service that decrypts what it receives with the
// subscription's private key and auth secret (RFC 8291) and checks the
// VAPID signature (RFC 8292): a test that reads a payload from it proves
// the encryption, not just the POST. Setting Status makes it answer that
// instead (410 for a withdrawn subscription).
type PushService struct {
	priv  *ecdh.PrivateKey
	auth  []byte
	vapid *ecdsa.PublicKey

	mu       sync.Mutex
	payloads []channel.PushPayload
	errs     []error
	status   int
	subject  string
}

// NewPushService makes a subscription's keys and a service that checks
// requests signed by vapidPublic's private key with subject sub.
func NewPushService(t testing.TB, vapidPublic, sub string) *PushService {
	t.Helper()
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth := make([]byte, 16)
	_, _ = rand.Read(auth)
	raw, err := base64.RawURLEncoding.DecodeString(vapidPublic)
	if err != nil {
		t.Fatal(err)
	}
	x, y := elliptic.Unmarshal(elliptic.P256(), raw) //nolint:staticcheck // the test needs the raw point
	if x == nil {
		t.Fatal("channeltest: VAPID public key is not a P-256 point")
	}
	return &PushService{priv: priv, auth: auth, subject: sub, vapid: &ecdsa.PublicKey{Curve: elliptic.P256(), X: x, Y: y}}
}

// SetStatus makes the service answer status to every request (0: accept).
func (p *PushService) SetStatus(status int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.status = status
}

// Payloads returns the payloads decrypted so far.
func (p *PushService) Payloads() []channel.PushPayload {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]channel.PushPayload(nil), p.payloads...)
}

// Err returns every problem found in the requests so far.
func (p *PushService) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return errors.Join(p.errs...)
}

// Channel is the web push channel of the subscription at endpoint.
func (p *PushService) Channel(endpoint string) channel.Channel {
	return channel.Channel{Kind: channel.KindWebPush, Config: channel.Config{
		Endpoint: endpoint, P256dh: base64.RawURLEncoding.EncodeToString(p.priv.PublicKey().Bytes()),
	}, Secret: base64.RawURLEncoding.EncodeToString(p.auth)}
}

func (p *PushService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.status != 0 {
		w.WriteHeader(p.status)
		return
	}
	if err := p.checkVAPID(r); err != nil {
		p.errs = append(p.errs, err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if r.Header.Get("Content-Encoding") != "aes128gcm" || r.Header.Get("TTL") == "" {
		p.errs = append(p.errs, errors.New("missing Content-Encoding or TTL"))
	}
	plain, err := p.decrypt(body)
	if err != nil {
		p.errs = append(p.errs, err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	var pl channel.PushPayload
	if err := json.Unmarshal(plain, &pl); err != nil {
		p.errs = append(p.errs, err)
	}
	p.payloads = append(p.payloads, pl)
	w.WriteHeader(http.StatusCreated)
}

// decrypt undoes RFC 8291 aes128gcm content encoding.
func (p *PushService) decrypt(body []byte) ([]byte, error) {
	if len(body) < 21 {
		return nil, errors.New("short body")
	}
	salt, rs, idlen := body[:16], binary.BigEndian.Uint32(body[16:20]), int(body[20])
	if len(body) < 21+idlen || rs < 18 {
		return nil, errors.New("bad header")
	}
	asPublic, ciphertext := body[21:21+idlen], body[21+idlen:]
	asKey, err := ecdh.P256().NewPublicKey(asPublic)
	if err != nil {
		return nil, err
	}
	shared, err := p.priv.ECDH(asKey)
	if err != nil {
		return nil, err
	}
	info := append([]byte("WebPush: info\x00"), p.priv.PublicKey().Bytes()...)
	info = append(info, asPublic...)
	ikm := make([]byte, 32)
	if _, err := io.ReadFull(hkdf.New(sha256.New, shared, p.auth, info), ikm); err != nil {
		return nil, err
	}
	cek := make([]byte, 16)
	if _, err := io.ReadFull(hkdf.New(sha256.New, ikm, salt, []byte("Content-Encoding: aes128gcm\x00")), cek); err != nil {
		return nil, err
	}
	nonce := make([]byte, 12)
	if _, err := io.ReadFull(hkdf.New(sha256.New, ikm, salt, []byte("Content-Encoding: nonce\x00")), nonce); err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	if uint32(len(ciphertext)) > rs {
		return nil, errors.New("more than one record")
	}
	plain, err := gcm.Open(nil, nonce, ciphertext, nil)
	if err != nil {
		return nil, err
	}
	// Strip the padding: zeros after the last record's delimiter 0x02.
	i := len(plain) - 1
	for i >= 0 && plain[i] == 0 {
		i--
	}
	if i < 0 || plain[i] != 2 {
		return nil, errors.New("no last-record delimiter")
	}
	return plain[:i], nil
}

// checkVAPID verifies "vapid t=<JWT>, k=<key>": the key is ours and the
// ES256 signature holds.
func (p *PushService) checkVAPID(r *http.Request) error {
	v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "vapid ")
	if !ok {
		return errors.New("no vapid authorization")
	}
	var tok string
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if s, ok := strings.CutPrefix(part, "t="); ok {
			tok = s
		}
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return errors.New("malformed JWT")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return errors.New("malformed JWT signature")
	}
	h := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ecdsa.Verify(p.vapid, h[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return errors.New("VAPID signature does not verify")
	}
	claims, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return err
	}
	var c struct{ Aud, Sub string }
	if err := json.Unmarshal(claims, &c); err != nil {
		return err
	}
	if c.Aud != "https://"+r.Host || c.Sub != p.subject {
		return errors.New("claims aud=" + c.Aud + " sub=" + c.Sub)
	}
	return nil
}

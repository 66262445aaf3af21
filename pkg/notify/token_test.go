package notify_test

import (
	"bytes"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/notify"
)

var testKey = bytes.Repeat([]byte("k"), notify.MinKeyLen)

func newSigner(t testing.TB, key []byte) *notify.Signer {
	t.Helper()
	s, err := notify.NewSigner(key)
	if err != nil {
		t.Fatalf("NewSigner: %v", err)
	}
	return s
}

func TestNewSignerRejectsShortKeys(t *testing.T) {
	t.Parallel()
	if _, err := notify.NewSigner(make([]byte, notify.MinKeyLen-1)); err == nil {
		t.Error("NewSigner accepted a 31-byte key")
	}
}

func TestSignerVerify(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 8, 20, 12, 0, 0, 0, time.UTC)
	s := newSigner(t, testKey)
	valid := s.Sign(42, notify.PurposeUnsubscribe, now.Add(notify.UnsubscribeTTL))
	other := newSigner(t, bytes.Repeat([]byte("x"), 40))

	tests := []struct {
		name    string
		token   string
		purpose string
		now     time.Time
		wantID  int64
		wantErr error
	}{
		{name: "valid", token: valid, purpose: notify.PurposeUnsubscribe, now: now, wantID: 42},
		{name: "valid at the expiry second", token: valid, purpose: notify.PurposeUnsubscribe, now: now.Add(notify.UnsubscribeTTL), wantID: 42},
		{name: "expired", token: valid, purpose: notify.PurposeUnsubscribe, now: now.Add(notify.UnsubscribeTTL + time.Second), wantErr: notify.ErrTokenExpired},
		{name: "other purpose", token: valid, purpose: "reset-password", now: now, wantErr: notify.ErrTokenInvalid},
		{name: "other key", token: other.Sign(42, notify.PurposeUnsubscribe, now.Add(time.Hour)), purpose: notify.PurposeUnsubscribe, now: now, wantErr: notify.ErrTokenInvalid},
		{name: "empty", token: "", purpose: notify.PurposeUnsubscribe, now: now, wantErr: notify.ErrTokenInvalid},
		{name: "garbage", token: "not-a-token!", purpose: notify.PurposeUnsubscribe, now: now, wantErr: notify.ErrTokenInvalid},
		{name: "truncated", token: valid[:len(valid)-1], purpose: notify.PurposeUnsubscribe, now: now, wantErr: notify.ErrTokenInvalid},
		{name: "tampered", token: flipChar(valid, 5), purpose: notify.PurposeUnsubscribe, now: now, wantErr: notify.ErrTokenInvalid},
		{name: "forged expiry is not reported as expired", token: flipChar(valid, 15), purpose: notify.PurposeUnsubscribe, now: now.Add(200 * 24 * time.Hour), wantErr: notify.ErrTokenInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			id, err := s.Verify(tc.token, tc.purpose, tc.now)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("Verify error = %v, want %v", err, tc.wantErr)
			}
			if id != tc.wantID {
				t.Errorf("Verify id = %d, want %d", id, tc.wantID)
			}
		})
	}
}

func TestSignIsURLSafe(t *testing.T) {
	t.Parallel()
	s := newSigner(t, testKey)
	for _, id := range []int64{0, 1, 1 << 40, -1} {
		tok := s.Sign(id, notify.PurposeUnsubscribe, time.Unix(1<<33, 0))
		if url.QueryEscape(tok) != tok {
			t.Errorf("token %q needs escaping in a URL", tok)
		}
		got, err := s.Verify(tok, notify.PurposeUnsubscribe, time.Unix(0, 0))
		if err != nil || got != id {
			t.Errorf("Verify(Sign(%d)) = %d, %v", id, got, err)
		}
	}
}

// flipChar changes the i-th character of a base64url token to another
// valid one.
func flipChar(tok string, i int) string {
	b := []byte(tok)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func FuzzVerify(f *testing.F) {
	s := newSigner(f, testKey)
	now := time.Unix(1_800_000_000, 0)
	f.Add(s.Sign(7, notify.PurposeUnsubscribe, now.Add(time.Hour)), notify.PurposeUnsubscribe)
	f.Add("", "")
	f.Add("AAAA", "unsubscribe")
	f.Add("====", "x")
	f.Fuzz(func(t *testing.T, token, purpose string) {
		id, err := s.Verify(token, purpose, now)
		if err == nil {
			return
		}
		if !errors.Is(err, notify.ErrTokenInvalid) && !errors.Is(err, notify.ErrTokenExpired) {
			t.Fatalf("Verify error %v is neither ErrTokenInvalid nor ErrTokenExpired", err)
		}
		if id != 0 {
			t.Fatalf("Verify returned id %d with error %v", id, err)
		}
	})
}

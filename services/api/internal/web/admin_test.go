package web_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pickmyclass/pickmyclass/pkg/check"
)

func TestAdminReplaysAndDiscardsDeadLetters(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	e.user("root@example.edu", true)
	admin := e.login("root@example.edu")
	add := func(key string) string {
		id, err := e.rdb.XAdd(ctx, &redis.XAddArgs{Stream: e.keys.DeadLetter(), Values: map[string]any{
			"type": check.MessageType, "data": "payload-" + key, "ts": time.Now().UnixMilli(), "key": key,
			"reason": "upstream: 500", "deliveries": 3, "original_id": "1-1", "failed_at": time.Now().UnixMilli(),
		}}).Result()
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	replayed, discarded := add("2267:CSE:240"), add("2267:MAT:265")

	for _, tc := range []struct{ id, verb, flash, audit string }{
		{replayed, "replay", "replayed", "dead_letter.replay"},
		{discarded, "discard", "discarded", "dead_letter.discard"},
	} {
		r := admin.do("POST", "/admin/dead-letters/"+tc.id+"/"+tc.verb, "", url.Values{})
		mustStatus(t, r, http.StatusSeeOther)
		if loc := r.header.Get("Location"); loc != "/admin/dead-letters?m="+tc.flash {
			t.Errorf("%s redirects to %q", tc.verb, loc)
		}
		var n int
		if err := e.db.Pool().QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = $1 AND target = $2`,
			tc.audit, "dead_letter:"+tc.id).Scan(&n); err != nil || n != 1 {
			t.Errorf("audit rows for %s %s: %d, %v; want 1", tc.audit, tc.id, n, err)
		}
		// Done once, the entry is gone: a second try is 404.
		mustStatus(t, admin.do("POST", "/admin/dead-letters/"+tc.id+"/"+tc.verb, "", url.Values{}), http.StatusNotFound)
	}
	if n := e.rdb.XLen(ctx, e.keys.DeadLetter()).Val(); n != 0 {
		t.Errorf("%d dead letters left, want 0", n)
	}
	entries, err := e.rdb.XRange(ctx, e.keys.Stream(), "-", "+").Result()
	if err != nil || len(entries) != 1 || entries[0].Values["key"] != "2267:CSE:240" {
		t.Errorf("checks stream after one replay: %v, %v; want the replayed entry only", entries, err)
	}
}

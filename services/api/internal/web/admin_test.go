package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
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

func TestAdminDisablesAndEnablesAccount(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	root := e.user("root@example.edu", true)
	u := e.user("student@example.edu", false)
	admin := e.login("root@example.edu")
	student := e.login("student@example.edu")
	id := strconv.FormatInt(u.ID, 10)

	mustStatus(t, admin.post("/admin/users/"+id+"/disable", ""), http.StatusSeeOther)
	if got, err := e.db.GetUser(ctx, u.ID); err != nil || got.DisabledAt == nil {
		t.Fatalf("after disable: %+v, %v", got, err)
	}
	mustStatus(t, student.get("/api/auth/me"), http.StatusUnauthorized) // sessions ended
	mustStatus(t, admin.post("/admin/users/"+id+"/enable", ""), http.StatusSeeOther)
	if got, err := e.db.GetUser(ctx, u.ID); err != nil || got.DisabledAt != nil {
		t.Fatalf("after enable: %+v, %v", got, err)
	}
	var actions []string
	rows, err := e.db.Pool().Query(ctx, `SELECT action FROM audit_log WHERE target = $1 ORDER BY id`, "user:"+id)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			t.Fatal(err)
		}
		actions = append(actions, a)
	}
	if fmt.Sprint(actions) != "[user.disable user.enable]" {
		t.Errorf("audit = %v", actions)
	}
	// Nobody disables their own account.
	mustStatus(t, admin.post("/admin/users/"+strconv.FormatInt(root.ID, 10)+"/disable", ""), http.StatusConflict)
}

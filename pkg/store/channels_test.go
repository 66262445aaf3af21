package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/channel"
	"github.com/pickmyclass/pickmyclass/pkg/store"
	"github.com/pickmyclass/pickmyclass/pkg/store/storetest"
)

// addChannel gives the user a verified channel of kind that wants events.
func addChannel(t *testing.T, db *store.DB, userID int64, kind channel.Kind, events ...catalog.Event) store.Channel {
	t.Helper()
	nc := store.NewChannel{UserID: userID, Kind: kind, Label: string(kind),
		Config: channel.Config{URL: "https://hooks.example/" + string(kind)}, Secret: "whsec_secret", Events: events}
	if kind == channel.KindWebPush {
		nc.Config = channel.Config{Endpoint: fmt.Sprintf("https://push.example/%d", time.Now().UnixNano()), P256dh: "k"}
	}
	c, err := db.CreateChannel(context.Background(), nc)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func deliveries(t *testing.T, db *store.DB) map[string]int {
	t.Helper()
	rows, err := db.Pool().Query(context.Background(),
		`SELECT c.kind || ':' || d.event || ':' || d.status FROM channel_deliveries d JOIN channels c ON c.id = d.channel_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		out[k]++
	}
	return out
}

func TestChannelVerificationCode(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	ctx := context.Background()
	u := storetest.User(t, db, "v@example.edu")
	c, err := db.CreateChannel(ctx, store.NewChannel{UserID: u.ID, Kind: channel.KindDiscord,
		Config: channel.Config{URL: "https://discord.com/api/webhooks/1/x"}, Code: "123456"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Active() || c.VerifiedAt != nil {
		t.Fatalf("new channel with a code is verified: %+v", c)
	}
	if err := db.VerifyChannel(ctx, u.ID, c.ID, "000000"); !errors.Is(err, store.ErrBadCode) {
		t.Fatalf("wrong code: %v", err)
	}
	other := storetest.User(t, db, "o@example.edu")
	if err := db.VerifyChannel(ctx, other.ID, c.ID, "123456"); !errors.Is(err, store.ErrBadCode) {
		t.Fatalf("another user's channel: %v", err)
	}
	if err := db.VerifyChannel(ctx, u.ID, c.ID, "123456"); err != nil {
		t.Fatalf("right code: %v", err)
	}
	got, err := db.GetChannel(ctx, u.ID, c.ID)
	if err != nil || !got.Active() {
		t.Fatalf("after verify: %+v, %v", got, err)
	}

	// Five wrong guesses use the code up.
	c2, err := db.CreateChannel(ctx, store.NewChannel{UserID: u.ID, Kind: channel.KindNtfy,
		Config: channel.Config{URL: "https://ntfy.sh/t"}, Code: "654321"})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		_ = db.VerifyChannel(ctx, u.ID, c2.ID, "111111")
	}
	if err := db.VerifyChannel(ctx, u.ID, c2.ID, "654321"); !errors.Is(err, store.ErrBadCode) {
		t.Fatalf("right code after 5 wrong guesses: %v, want ErrBadCode", err)
	}
	if err := db.SetChannelCode(ctx, u.ID, c2.ID, "222222"); err != nil {
		t.Fatal(err)
	}
	if err := db.VerifyChannel(ctx, u.ID, c2.ID, "222222"); err != nil {
		t.Fatalf("new code: %v", err)
	}
}

func TestChannelLimitAndPushResubscribe(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	ctx := context.Background()
	u := storetest.User(t, db, "l@example.edu")
	push, err := db.CreateChannel(ctx, store.NewChannel{UserID: u.ID, Kind: channel.KindWebPush,
		Config: channel.Config{Endpoint: "https://push.example/a", P256dh: "k1"}, Secret: "a1"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < store.MaxChannels; i++ {
		addChannel(t, db, u.ID, channel.KindSlack)
	}
	if _, err := db.CreateChannel(ctx, store.NewChannel{UserID: u.ID, Kind: channel.KindSlack}); !errors.Is(err, store.ErrLimitReached) {
		t.Fatalf("channel %d: %v, want ErrLimitReached", store.MaxChannels+1, err)
	}
	// The same browser subscribing again updates its channel, even at the limit.
	again, err := db.CreateChannel(ctx, store.NewChannel{UserID: u.ID, Kind: channel.KindWebPush,
		Config: channel.Config{Endpoint: "https://push.example/a", P256dh: "k2"}, Secret: "a2"})
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != push.ID || again.Config.P256dh != "k2" || again.Secret != "a2" || !again.Active() {
		t.Errorf("resubscribe: %+v, want channel %d with new keys", again, push.ID)
	}
}

func TestApplyClaimsOneDeliveryPerActiveChannelThatWantsTheEvent(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	ctx := context.Background()
	u := storetest.User(t, db, "c@example.edu")
	storetest.Watch(t, db, u.ID, term, "100", subj, catNbr)
	discord := addChannel(t, db, u.ID, channel.KindDiscord, catalog.EventSeatAvailable)
	addChannel(t, db, u.ID, channel.KindSlack, catalog.EventInstructorAssigned) // not this event
	_, err := db.CreateChannel(ctx, store.NewChannel{UserID: u.ID, Kind: channel.KindNtfy,
		Config: channel.Config{URL: "https://ntfy.sh/x"}, Code: "123456"})
	if err != nil {
		t.Fatal(err)
	}
	disabled := addChannel(t, db, u.ID, channel.KindWebhook)
	if _, err := db.Pool().Exec(ctx, `UPDATE channels SET disabled_at = now() WHERE id = $1`, disabled.ID); err != nil {
		t.Fatal(err)
	}
	// Email off: channels still get alerts, and the section is still checked.
	if err := db.SetNotifications(ctx, u.ID, false); err != nil {
		t.Fatal(err)
	}
	due, err := db.DueCourses(ctx)
	if err != nil || len(due) != 1 {
		t.Fatalf("DueCourses = %+v, %v; want the channel-only user's course", due, err)
	}

	apply(t, db, course, at(0), []string{"100"}, sec(term, "100", 30, "Staff"))
	res := apply(t, db, course, at(1), []string{"100"}, sec(term, "100", 27, "Staff"))
	if res.Claims != 0 || res.ChannelClaims != 1 || len(res.Notify) != 1 {
		t.Fatalf("apply = %+v, want 0 email claims, 1 channel claim, 1 section to notify", res)
	}
	// The same observation again claims nothing twice.
	if res := apply(t, db, course, at(1), []string{"100"}, sec(term, "100", 27, "Staff")); res.ChannelClaims != 0 {
		t.Fatalf("reapply = %+v", res)
	}
	if got := deliveries(t, db); len(got) != 1 || got["discord:seat_available:pending"] != 1 {
		t.Errorf("deliveries = %v", got)
	}
	ds, err := db.ClaimDeliveries(ctx, time.Minute, 10, 10)
	if err != nil || len(ds) != 1 {
		t.Fatalf("ClaimDeliveries = %+v, %v", ds, err)
	}
	d := ds[0]
	if d.ChannelID != discord.ID || d.Channel.Kind != channel.KindDiscord || d.Channel.Config.URL != discord.Config.URL ||
		d.Channel.Secret != "whsec_secret" || d.Email != u.Email || d.OpenSeats != 3 || d.Section.Title != "Intro to Systems" || d.Attempts != 1 {
		t.Errorf("delivery = %+v", d)
	}
	if !strings.HasSuffix(d.IdempotencyKey(), fmt.Sprintf("-seat_available-1-c%d", discord.ID)) {
		t.Errorf("IdempotencyKey = %q", d.IdempotencyKey())
	}
	// Leased: nobody else gets it.
	if again, err := db.ClaimDeliveries(ctx, time.Minute, 10, 10); err != nil || len(again) != 0 {
		t.Fatalf("second claim = %+v, %v", again, err)
	}
	if err := db.MarkDeliverySent(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	if got := deliveries(t, db); got["discord:seat_available:sent"] != 1 {
		t.Errorf("deliveries = %v", got)
	}
}

// pendingDeliveries makes n watchers of one section, each with a webhook
// channel, and opens the section.
func pendingDeliveries(t *testing.T, db *store.DB, nbr string, n int) []store.Channel {
	t.Helper()
	chs := make([]store.Channel, n)
	for i := range chs {
		u := storetest.User(t, db, fmt.Sprintf("d%d-%s@example.edu", i, nbr))
		storetest.Watch(t, db, u.ID, term, nbr, subj, catNbr)
		chs[i] = addChannel(t, db, u.ID, channel.KindWebhook)
	}
	apply(t, db, course, at(0), []string{nbr}, sec(term, nbr, 30))
	if res := apply(t, db, course, at(1), []string{nbr}, sec(term, nbr, 20)); res.ChannelClaims != n {
		t.Fatalf("open: %+v, want %d channel claims", res, n)
	}
	return chs
}

func TestClaimDeliveriesConcurrentClaimersDoNotOverlap(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	ctx := context.Background()
	pendingDeliveries(t, db, "100", 8)
	var a, b []store.Delivery
	var g errgroup.Group
	g.Go(func() (err error) { a, err = db.ClaimDeliveries(ctx, time.Minute, 5, 5); return err })
	g.Go(func() (err error) { b, err = db.ClaimDeliveries(ctx, time.Minute, 5, 5); return err })
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	seen := map[int64]bool{}
	for _, d := range append(a, b...) {
		if seen[d.ID] {
			t.Errorf("delivery %d leased twice", d.ID)
		}
		seen[d.ID] = true
	}
	if len(seen) != 8 {
		t.Errorf("leased %d deliveries, want 8", len(seen))
	}
}

func TestReleaseDeliveryBacksOffAndHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	db.SetSendRetry(50*time.Millisecond, time.Second)
	ctx := context.Background()
	pendingDeliveries(t, db, "100", 1)
	ds, err := db.ClaimDeliveries(ctx, time.Minute, 10, 10)
	if err != nil || len(ds) != 1 {
		t.Fatalf("claim: %v, %v", ds, err)
	}
	// A plain failure comes back after the short back-off.
	if err := db.ReleaseDelivery(ctx, ds[0], "HTTP 500", 0); err != nil {
		t.Fatal(err)
	}
	var leaseLeft float64
	q := `SELECT extract(epoch FROM lease_until - now()) FROM channel_deliveries WHERE id = $1`
	if err := db.Pool().QueryRow(ctx, q, ds[0].ID).Scan(&leaseLeft); err != nil || leaseLeft > 0.06 {
		t.Fatalf("back-off after a 500: %.3fs (%v), want ≤ 50ms", leaseLeft, err)
	}
	// A 429 with Retry-After holds it, and the channel, that long.
	if _, err := db.Pool().Exec(ctx, `UPDATE channel_deliveries SET lease_until = NULL WHERE id = $1`, ds[0].ID); err != nil {
		t.Fatal(err)
	}
	ds, err = db.ClaimDeliveries(ctx, time.Minute, 10, 10)
	if err != nil || len(ds) != 1 {
		t.Fatalf("reclaim: %v, %v", ds, err)
	}
	if err := db.ReleaseDelivery(ctx, ds[0], "HTTP 429", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := db.Pool().QueryRow(ctx, q, ds[0].ID).Scan(&leaseLeft); err != nil || leaseLeft < 29 {
		t.Fatalf("lease after Retry-After 30s: %.1fs (%v)", leaseLeft, err)
	}
	var held bool
	if err := db.Pool().QueryRow(ctx, `SELECT retry_at > now() + interval '29 seconds' FROM channels WHERE id = $1`, ds[0].ChannelID).Scan(&held); err != nil || !held {
		t.Errorf("channel not held after a 429: %v", err)
	}
	// Even with its own lease cleared, a held channel's delivery waits.
	if _, err := db.Pool().Exec(ctx, `UPDATE channel_deliveries SET lease_until = NULL WHERE id = $1`, ds[0].ID); err != nil {
		t.Fatal(err)
	}
	if again, err := db.ClaimDeliveries(ctx, time.Minute, 10, 10); err != nil || len(again) != 0 {
		t.Errorf("claimed %d deliveries of a held channel (%v)", len(again), err)
	}
}

func TestFailDeliveryDisablesChannelAndSkipsItsOtherDeliveries(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	ctx := context.Background()
	u := storetest.User(t, db, "f@example.edu")
	storetest.Watch(t, db, u.ID, term, "100", subj, catNbr)
	storetest.Watch(t, db, u.ID, term, "200", subj, catNbr)
	hook := addChannel(t, db, u.ID, channel.KindWebhook)
	slack := addChannel(t, db, u.ID, channel.KindSlack)
	apply(t, db, course, at(0), []string{"100", "200"}, sec(term, "100", 30), sec(term, "200", 30))
	apply(t, db, course, at(1), []string{"100", "200"}, sec(term, "100", 20), sec(term, "200", 20))

	// At most one delivery per channel per claim.
	ds, err := db.ClaimDeliveries(ctx, time.Minute, 10, 1)
	if err != nil || len(ds) != 2 {
		t.Fatalf("claim = %d deliveries, %v; want one per channel", len(ds), err)
	}
	var hookD store.Delivery
	for _, d := range ds {
		if d.ChannelID == hook.ID {
			hookD = d
		} else if err := db.MarkDeliverySent(ctx, d.ID); err != nil {
			t.Fatal(err)
		}
	}
	disabled, err := db.FailDelivery(ctx, hookD, "HTTP 404", true, "The webhook answered 404 Not Found")
	if err != nil || !disabled {
		t.Fatalf("FailDelivery = %v, %v", disabled, err)
	}
	if again, err := db.FailDelivery(ctx, hookD, "HTTP 404", true, "x"); err != nil || again {
		t.Fatalf("second FailDelivery = %v, %v; want not newly disabled", again, err)
	}
	// The webhook's other delivery is skipped; Slack's goes on.
	ds, err = db.ClaimDeliveries(ctx, time.Minute, 10, 10)
	if err != nil || len(ds) != 1 || ds[0].ChannelID != slack.ID {
		t.Fatalf("claim after disabling = %+v, %v", ds, err)
	}
	st, err := db.ChannelDeliveryStatus(ctx, hook.ID)
	if err != nil || st["failed"] != 1 || st["skipped"] != 1 {
		t.Errorf("webhook deliveries = %v, %v", st, err)
	}
	// The owner is told once.
	notices, err := db.ClaimDisabledNotices(ctx, 10)
	if err != nil || len(notices) != 1 || notices[0].ID != hook.ID || notices[0].Email != u.Email ||
		notices[0].Reason != "The webhook answered 404 Not Found" {
		t.Fatalf("notices = %+v, %v", notices, err)
	}
	if again, err := db.ClaimDisabledNotices(ctx, 10); err != nil || len(again) != 0 {
		t.Fatalf("notices again = %+v, %v", again, err)
	}
	// A failed notice email is handed back.
	if err := db.UnclaimDisabledNotice(ctx, hook.ID); err != nil {
		t.Fatal(err)
	}
	if again, err := db.ClaimDisabledNotices(ctx, 10); err != nil || len(again) != 1 {
		t.Fatalf("notices after unclaim = %+v, %v", again, err)
	}
}

func TestExportRedactsChannelSecretsAndDeleteRemovesChannels(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	ctx := context.Background()
	u := storetest.User(t, db, "x@example.edu")
	storetest.Watch(t, db, u.ID, term, "100", subj, catNbr)
	if _, err := db.CreateChannel(ctx, store.NewChannel{UserID: u.ID, Kind: channel.KindDiscord, Label: "my server",
		Config: channel.Config{URL: "https://discord.com/api/webhooks/123/TOKENPART"}, Events: []catalog.Event{catalog.EventSeatAvailable}}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateChannel(ctx, store.NewChannel{UserID: u.ID, Kind: channel.KindWebhook,
		Config: channel.Config{URL: "https://example.org/hooks/abc?key=QUERYSECRET"}, Secret: "whsec_SIGNINGSECRET"}); err != nil {
		t.Fatal(err)
	}
	x, err := db.ExportUser(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(x.Channels) != 2 || x.Channels[0].Destination != "discord.com" || x.Channels[0].Label != "my server" ||
		x.Channels[1].Destination != "example.org/…" {
		t.Errorf("exported channels = %+v", x.Channels)
	}
	b, _ := json.Marshal(x)
	for _, secret := range []string{"TOKENPART", "QUERYSECRET", "SIGNINGSECRET", "whsec_"} {
		if strings.Contains(string(b), secret) {
			t.Errorf("export contains %q", secret)
		}
	}
	pendingDeliveries(t, db, "300", 1)
	if err := db.DeleteAccount(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.Pool().QueryRow(ctx, `SELECT count(*) FROM channels WHERE user_id = $1`, u.ID).Scan(&n); err != nil || n != 0 {
		t.Errorf("channels left after delete: %d, %v", n, err)
	}
}

// TestDelayedDeliveryIsCheckedAgainstTheCurrentState: a channel delivery,
// like an email, is not sent once its seat is gone.
func TestDelayedDeliveryIsCheckedAgainstTheCurrentState(t *testing.T) {
	t.Parallel()
	db, _ := storetest.NewDB(t)
	ctx := context.Background()
	pendingDeliveries(t, db, "100", 1)
	pendingDeliveries(t, db, "200", 1)
	apply(t, db, course, at(2), []string{"100"}, sec(term, "100", 30))
	ds, err := db.ClaimDeliveries(ctx, time.Minute, 10, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 || ds[0].Section.ClassNbr != "200" {
		t.Fatalf("claimed %+v, want only the delivery of 200, still open", ds)
	}
	var st, why string
	if err := db.Pool().QueryRow(ctx, `SELECT status, last_error FROM channel_deliveries WHERE class_nbr = '100'`).Scan(&st, &why); err != nil {
		t.Fatal(err)
	}
	if st != store.StatusSkipped || why == "" {
		t.Errorf("delivery of the filled section: %s (%q), want skipped with a reason", st, why)
	}
}

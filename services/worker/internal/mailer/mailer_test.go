package mailer_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/notify"
	"github.com/pickmyclass/pickmyclass/pkg/notify/notifytest"
	"github.com/pickmyclass/pickmyclass/pkg/store"
	"github.com/pickmyclass/pickmyclass/services/worker/internal/mailer"
)

// fakeStore hands out its notes once and records which were sent.
type fakeStore struct {
	notes  []store.Notification
	sent   []int64
	failed []string
}

func (f *fakeStore) ClaimPending(context.Context, []catalog.SectionKey, time.Duration, int) ([]store.Notification, error) {
	n := f.notes
	f.notes = nil
	return n, nil
}

func (f *fakeStore) ClaimDue(context.Context, time.Duration, int) ([]store.Notification, error) {
	return nil, nil
}

func (f *fakeStore) MarkSent(_ context.Context, id int64, _ string) error {
	f.sent = append(f.sent, id)
	return nil
}

func (f *fakeStore) Release(context.Context, int64, string) error { return nil }

func (f *fakeStore) MarkFailed(_ context.Context, _ int64, e string) error {
	f.failed = append(f.failed, e)
	return nil
}

// TestCourseAlertNamesEverySection: a course watch's notification becomes
// an email naming each section it carries, each linked to its own page.
func TestCourseAlertNamesEverySection(t *testing.T) {
	t.Parallel()
	a := catalog.Section{Term: "2267", ClassNbr: "70412", Subject: "CSE", CatalogNbr: "240", SectionCode: "01",
		Capacity: 150, Enrolled: 149, Status: catalog.StatusOpen}
	b := a
	b.ClassNbr, b.SectionCode, b.Enrolled = "70413", "1002", 140
	st := &fakeStore{notes: []store.Notification{{
		ID: 7, WatchID: 3, UserID: 1, Email: "ada@example.edu", Event: catalog.EventSeatAvailable, Epoch: 2,
		Section: a, OpenSeats: 1,
		Watch: store.WatchAbout{Kind: catalog.WatchCourse, Filter: catalog.Filter{Mode: catalog.ModeOnline}, Sections: []catalog.Section{a, b}},
	}}}
	signer, err := notify.NewSigner([]byte(strings.Repeat("k", notify.MinKeyLen)))
	if err != nil {
		t.Fatal(err)
	}
	rec := &notifytest.Recorder{}
	m := &mailer.Mailer{Store: st, Sender: rec, Signer: signer, BaseURL: "https://pickmyclass.test", Domain: "pickmyclass.test",
		Lease: time.Minute, Now: time.Now}
	if err := m.SendPending(t.Context(), []catalog.SectionKey{a.Key()}); err != nil {
		t.Fatal(err)
	}
	emails := rec.Emails()
	if len(emails) != 1 || len(st.sent) != 1 || len(st.failed) != 0 {
		t.Fatalf("%d emails, sent %v, failed %v", len(emails), st.sent, st.failed)
	}
	e := emails[0]
	if e.Subject != "Seats open in CSE 240 (Fall 2026) — 2 sections" {
		t.Errorf("subject %q", e.Subject)
	}
	for _, want := range []string{
		"section 01 (70412) and section 1002 (70413)", "matching: online", "10 of 150 seats open",
		"https://pickmyclass.test/go/asu?classNbr=70412&term=2267", "https://pickmyclass.test/go/asu?classNbr=70413&term=2267",
	} {
		if !strings.Contains(e.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, e.Text)
		}
	}
}

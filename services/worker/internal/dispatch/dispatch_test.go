package dispatch_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/channel"
	"github.com/pickmyclass/pickmyclass/pkg/store"
	"github.com/pickmyclass/pickmyclass/services/worker/internal/dispatch"
)

// fakeStore hands out its deliveries once and records which were sent.
type fakeStore struct {
	mu   sync.Mutex
	ds   []store.Delivery
	sent []int64
}

func (f *fakeStore) ClaimDeliveries(context.Context, time.Duration, int, int) ([]store.Delivery, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ds := f.ds
	f.ds = nil
	return ds, nil
}

func (f *fakeStore) MarkDeliverySent(_ context.Context, id int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, id)
	return nil
}

func (f *fakeStore) ReleaseDelivery(context.Context, store.Delivery, string, time.Duration) error {
	return nil
}
func (f *fakeStore) DeferDelivery(context.Context, int64, time.Duration) error { return nil }
func (f *fakeStore) FailDelivery(context.Context, store.Delivery, string, bool, string) (bool, error) {
	return false, nil
}
func (f *fakeStore) ClaimDisabledNotices(context.Context, int) ([]store.DisabledChannel, error) {
	return nil, nil
}
func (f *fakeStore) UnclaimDisabledNotice(context.Context, int64) error { return nil }

// sender records the messages it is given.
type sender struct {
	mu   sync.Mutex
	msgs []channel.Message
}

func (s *sender) Send(_ context.Context, _ channel.Channel, m channel.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
	return nil
}

// TestLinkedAlertNamesLectureAndLab: a linked watch's delivery becomes a
// message naming the lecture and its lab, each with its enroll link.
func TestLinkedAlertNamesLectureAndLab(t *testing.T) {
	t.Parallel()
	lec := catalog.Section{Term: "2267", ClassNbr: "66445", Subject: "CSE", CatalogNbr: "310", Component: "LEC",
		Capacity: 200, Enrolled: 198, Status: catalog.StatusOpen}
	lab := lec
	lab.ClassNbr, lab.Component, lab.Capacity, lab.Enrolled = "66450", "LAB", 24, 23
	st := &fakeStore{ds: []store.Delivery{{
		ID: 5, ChannelID: 2, WatchID: 3, Channel: channel.Channel{Kind: channel.KindWebhook}, Event: catalog.EventSeatAvailable,
		Epoch: 1, Section: lec, OpenSeats: 2,
		Watch: store.WatchAbout{Kind: catalog.WatchLinked, Sections: []catalog.Section{lec, lab}},
	}}}
	snd := &sender{}
	d := &dispatch.Dispatcher{Store: st, Sender: snd, BaseURL: "https://pickmyclass.test", Lease: time.Minute, Concurrency: 1, Now: time.Now}
	n, err := d.Drain(t.Context())
	if err != nil || n != 1 {
		t.Fatalf("Drain = %d, %v", n, err)
	}
	if len(snd.msgs) != 1 {
		t.Fatalf("%d messages sent", len(snd.msgs))
	}
	m := snd.msgs[0]
	if m.Title != "CSE 310 lecture #66445 and lab #66450 both have seats" || m.Watch.Kind != catalog.WatchLinked {
		t.Errorf("title %q, kind %q", m.Title, m.Watch.Kind)
	}
	for _, want := range []string{"Lecture #66445: 2 of 200 open", "Lab #66450: 1 of 24 open",
		"Enroll: https://pickmyclass.test/go/asu?classNbr=66450&term=2267"} {
		if !strings.Contains(m.Body, want) {
			t.Errorf("body lacks %q:\n%s", want, m.Body)
		}
	}
	if m.URL != "https://pickmyclass.test/go/asu?classNbr=66445&term=2267" {
		t.Errorf("url %q", m.URL)
	}
}

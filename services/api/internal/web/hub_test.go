package web

import (
	"slices"
	"testing"

	"github.com/rs/zerolog"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
)

// The hub hands each dashboard only the announced sections it subscribed
// to, and forgets a dashboard entirely when it stops.
func TestHubRoutesBySection(t *testing.T) {
	t.Parallel()
	key := func(n string) catalog.SectionKey { return catalog.SectionKey{Term: "2267", ClassNbr: n} }
	h := NewHub(nil, "unused", zerolog.Nop())
	a, stopA := h.Subscribe([]catalog.SectionKey{key("1"), key("2")})
	b, stopB := h.Subscribe([]catalog.SectionKey{key("2"), key("3")})

	h.publish([]catalog.SectionKey{key("1"), key("2"), key("9")})
	if got := <-a; !slices.Equal(got, []catalog.SectionKey{key("1"), key("2")}) {
		t.Errorf("a got %v, want sections 1 and 2", got)
	}
	if got := <-b; !slices.Equal(got, []catalog.SectionKey{key("2")}) {
		t.Errorf("b got %v, want section 2", got)
	}
	h.publish([]catalog.SectionKey{key("9")})
	select {
	case got := <-a:
		t.Errorf("a got %v for a section nobody watches", got)
	case got := <-b:
		t.Errorf("b got %v for a section nobody watches", got)
	default:
	}

	stopA()
	if _, ok := <-a; ok {
		t.Error("a's channel is open after stop")
	}
	h.publish([]catalog.SectionKey{key("1"), key("2")})
	if got := <-b; !slices.Equal(got, []catalog.SectionKey{key("2")}) {
		t.Errorf("b got %v after a stopped, want section 2", got)
	}
	stopB()
	stopB() // stopping twice is harmless
	if len(h.subs) != 0 || len(h.all) != 0 {
		t.Errorf("hub still holds %d sections and %d dashboards", len(h.subs), len(h.all))
	}
}

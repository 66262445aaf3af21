package stream

import (
	"context"
	"errors"
	"fmt"
)

// ErrUnknownType is wrapped by Mux.Serve's error for an entry whose type
// has no handler; the error is permanent, as no retry will add one.
var ErrUnknownType = errors.New("no handler for stream entry type")

// Mux routes entries to handlers by their Type, so one consumer can carry
// several message types.
type Mux struct {
	handlers map[string]Handler
}

// NewMux returns an empty Mux.
func NewMux() *Mux {
	return &Mux{handlers: map[string]Handler{}}
}

// Handle registers h for entries of type typ (for protobuf payloads the
// message's full name). Like http.ServeMux, it panics on a nil handler or a
// type registered twice, which are wiring mistakes.
func (m *Mux) Handle(typ string, h Handler) {
	if h == nil {
		panic("stream: nil handler for " + typ)
	}
	if _, dup := m.handlers[typ]; dup {
		panic("stream: second handler for " + typ)
	}
	m.handlers[typ] = h
}

// Serve runs the handler registered for e's type; pass it to Consumer.Run.
func (m *Mux) Serve(ctx context.Context, e *Entry) error {
	h, ok := m.handlers[e.Type]
	if !ok {
		return Permanent(fmt.Errorf("entry %s: %w %q", e.ID, ErrUnknownType, e.Type))
	}
	return h(ctx, e)
}

package stream

import (
	"context"
	"errors"
	"testing"
)

func TestMuxRoutesByType(t *testing.T) {
	t.Parallel()
	errA := errors.New("from a")
	mux := NewMux()
	mux.Handle("a", func(ctx context.Context, e *Entry) error { return errA })
	mux.Handle("b", func(ctx context.Context, e *Entry) error { return nil })

	tests := []struct {
		typ      string
		want     error
		wantPerm bool
	}{
		{typ: "a", want: errA},
		{typ: "b"},
		{typ: "c", want: ErrUnknownType, wantPerm: true},
	}
	for _, tc := range tests {
		t.Run(tc.typ, func(t *testing.T) {
			t.Parallel()
			err := mux.Serve(context.Background(), &Entry{ID: "1-0", Type: tc.typ})
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Errorf("Serve = %v, want %v", err, tc.want)
			}
			var perm *PermanentError
			if got := errors.As(err, &perm); got != tc.wantPerm {
				t.Errorf("permanent = %v, want %v", got, tc.wantPerm)
			}
		})
	}
}

func TestMuxRejectsDuplicateType(t *testing.T) {
	t.Parallel()
	mux := NewMux()
	h := func(ctx context.Context, e *Entry) error { return nil }
	mux.Handle("a", h)
	defer func() {
		if recover() == nil {
			t.Error("Handle(duplicate) did not panic")
		}
	}()
	mux.Handle("a", h)
}

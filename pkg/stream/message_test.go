package stream

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func TestParseEntry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		values     map[string]any
		deliveries int64
		want       *Entry
		wantErr    error
	}{
		{
			name:       "full",
			values:     map[string]any{"type": "a.B", "data": "xyz", "ts": "1700000000123", "key": "k"},
			deliveries: 2,
			want:       &Entry{ID: "1-0", Type: "a.B", Data: []byte("xyz"), Key: "k", EnqueuedAt: time.UnixMilli(1700000000123), Deliveries: 2},
		},
		{
			name:       "deferred before",
			values:     map[string]any{"type": "a.B", "data": "", "ts": "5", "prior_deliveries": "2"},
			deliveries: 1,
			want:       &Entry{ID: "1-0", Type: "a.B", Data: []byte{}, EnqueuedAt: time.UnixMilli(5), Deliveries: 3},
		},
		{name: "no type", values: map[string]any{"data": "x", "ts": "5"}, wantErr: ErrMalformed},
		{name: "empty type", values: map[string]any{"type": "", "data": "x", "ts": "5"}, wantErr: ErrMalformed},
		{name: "no data", values: map[string]any{"type": "a", "ts": "5"}, wantErr: ErrMalformed},
		{name: "no ts", values: map[string]any{"type": "a", "data": "x"}, wantErr: ErrMalformed},
		{name: "bad ts", values: map[string]any{"type": "a", "data": "x", "ts": "x"}, wantErr: ErrMalformed},
		{name: "bad prior", values: map[string]any{"type": "a", "data": "x", "ts": "5", "prior_deliveries": "-1"}, wantErr: ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseEntry(redis.XMessage{ID: "1-0", Values: tc.values}, tc.deliveries)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error = %v, want %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("entry (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	t.Parallel()
	msg, err := Marshal(wrapperspb.String("CSE 110"), "k1")
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	if msg.Type != "google.protobuf.StringValue" || msg.Key != "k1" {
		t.Errorf("Marshal = %+v, want the proto full name and key", msg)
	}
	e := &Entry{ID: "1-0", Type: msg.Type, Data: msg.Data}
	var got wrapperspb.StringValue
	if err := e.Unmarshal(&got); err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	if !proto.Equal(&got, wrapperspb.String("CSE 110")) {
		t.Errorf("Unmarshal = %v, want CSE 110", &got)
	}
	if err := e.Unmarshal(&durationpb.Duration{}); !errors.Is(err, ErrTypeMismatch) {
		t.Errorf("Unmarshal(other type) = %v, want ErrTypeMismatch", err)
	}
}

func TestStreamIDOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b string
		less bool
	}{
		{"1-0", "2-0", true},
		{"2-0", "10-0", true}, // numeric, not lexical
		{"5-3", "5-10", true},
		{"5-3", "5-3", false},
		{"6-0", "5-99", false},
	}
	for _, tc := range tests {
		a, err := parseID(tc.a)
		if err != nil {
			t.Fatal(err)
		}
		b, err := parseID(tc.b)
		if err != nil {
			t.Fatal(err)
		}
		if got := a.less(b); got != tc.less {
			t.Errorf("%s < %s = %v, want %v", tc.a, tc.b, got, tc.less)
		}
	}
	if _, err := parseID("x-1"); err == nil {
		t.Error("parseID(x-1) succeeded, want an error")
	}
}

package chaos

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asu"
)

// A university answering with an endless body: the ASU client stops
// reading at its body cap, reports the response as malformed (a breaker
// failure, not a crash), and the worker's memory stays bounded.
func TestHugeUpstreamResponseKeepsMemoryBounded(t *testing.T) {
	t.Parallel()
	const (
		bodyCap = 1 << 20   // 1 MiB
		offered = 512 << 20 // what the server is willing to send
	)
	rep := report(t, 7, "Huge upstream response",
		fmt.Sprintf("the university streams a %d MiB JSON body; the ASU client's body cap is %d MiB", offered>>20, bodyCap>>20),
		"the request fails as malformed (a breaker failure) after reading about the cap; the bytes allocated stay within a small multiple of the cap")
	var sent atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		chunk := []byte(`{"classes":[` + strings.Repeat(`{"CLAS":{"CLASSNBR":"1"}},`, 2000))
		for sent.Load() < offered {
			n, err := w.Write(chunk)
			sent.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	c, err := asu.New(asu.Config{BaseURL: srv.URL, Timeout: 30 * time.Second, MaxBodySize: bodyCap})
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err = c.Course(context.Background(), catalog.CourseKey{Term: "2267", Subject: "CSE", CatalogNbr: "240"})
	runtime.ReadMemStats(&after)
	var ce *catalog.Error
	if !errors.As(err, &ce) || ce.Kind != catalog.KindMalformed {
		t.Errorf("error %v, want a KindMalformed catalog error", err)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	if limit := uint64(32 * bodyCap); alloc > limit {
		t.Errorf("allocated %d MiB for one oversized response, want ≤ %d MiB", alloc>>20, limit>>20)
	}
	rep.add(1, 0, 0)
	rep.figure("server offered %d MiB, wrote %d MiB before the client hung up; client allocated %.1f MiB; error: %v", offered>>20, sent.Load()>>20, float64(alloc)/(1<<20), err)
}

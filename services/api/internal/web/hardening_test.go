package web_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/pickmyclass/pickmyclass/pkg/breaker"
	"github.com/pickmyclass/pickmyclass/pkg/check"
	"github.com/pickmyclass/pickmyclass/pkg/stream"
	"github.com/pickmyclass/pickmyclass/services/api/internal/web"
)

// brokenMonitor fails every read with an error that names internals.
type brokenMonitor struct{}

var errInternal = errors.New("dial tcp 10.1.2.3:6379: connect: connection refused (redis-primary.internal)")

func (brokenMonitor) Ping(context.Context) error { return errInternal }
func (brokenMonitor) Breaker(context.Context) (breaker.Snapshot, error) {
	return breaker.Snapshot{}, errInternal
}
func (brokenMonitor) Queue(context.Context) (stream.Stats, error) { return stream.Stats{}, errInternal }
func (brokenMonitor) Heartbeat(context.Context) (check.Heartbeat, error) {
	return check.Heartbeat{}, errInternal
}

// TestPublicHealthHidesErrorText: the public report says what failed, not
// how (addresses and driver messages stay in the log and on the ops port).
func TestPublicHealthHidesErrorText(t *testing.T) {
	t.Parallel()
	e := setup(t, func(d *web.Deps) { d.Monitor = brokenMonitor{} })
	r := e.client().get("/api/monitoring/health")
	mustStatus(t, r, http.StatusServiceUnavailable)
	for _, leak := range []string{"10.1.2.3", "6379", "redis-primary", "connection refused", "dial tcp"} {
		if strings.Contains(r.body, leak) {
			t.Errorf("public health shows %q: %s", leak, r.body)
		}
	}
	checks := r.json(t)["checks"].(map[string]any)
	for _, name := range []string{"redis", "circuit_breaker", "scheduler", "queue"} {
		if c, _ := checks[name].(map[string]any); c["status"] != "unhealthy" {
			t.Errorf("%s = %v, want unhealthy", name, checks[name])
		}
	}
}

// TestVerifyPageShowsNoTextFromTheLink: /verify-email?sent=… once echoed
// its parameter as a notice; a crafted link could make our page say
// anything.
func TestVerifyPageShowsNoTextFromTheLink(t *testing.T) {
	t.Parallel()
	e := setup(t)
	c := e.client()
	mustStatus(t, c.post("/api/auth/register", `{"email":"new@example.edu","password":"a fine passphrase","confirm_password":"a fine passphrase","age_confirmed":true,"terms_accepted":true}`), http.StatusAccepted)
	mustStatus(t, c.post("/api/auth/login", `{"email":"new@example.edu","password":"a fine passphrase"}`), http.StatusOK)
	const bait = "Your account is suspended call 555 0100"
	for _, path := range []string{"/verify-email?sent=" + strings.ReplaceAll(bait, " ", "+"), "/verify-email?token=abc&sent=" + strings.ReplaceAll(bait, " ", "+")} {
		r := c.get(path)
		mustStatus(t, r, http.StatusOK)
		if strings.Contains(r.body, "suspended") {
			t.Errorf("%s shows the link's text", path)
		}
	}
}

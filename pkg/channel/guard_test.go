package channel_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pickmyclass/pickmyclass/pkg/channel"
	"github.com/pickmyclass/pickmyclass/pkg/channel/channeltest"
)

func TestAllowed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr string
		want bool
	}{
		{"127.0.0.1", false},
		{"127.8.9.10", false},
		{"169.254.169.254", false},
		{"10.0.0.1", false},
		{"172.16.5.4", false},
		{"192.168.1.1", false},
		{"100.64.0.1", false},
		{"0.0.0.0", false},
		{"224.0.0.1", false},
		{"255.255.255.255", false},
		{"::1", false},
		{"::", false},
		{"fd00::2", false},
		{"fc00::1", false},
		{"fe80::1", false},
		{"ff02::1", false},
		{"::ffff:127.0.0.1", false},
		{"::ffff:169.254.169.254", false},
		{"::ffff:10.0.0.1", false},
		{"::127.0.0.1", false},
		{"64:ff9b::a00:1", false}, // NAT64 of 10.0.0.1
		{"2002:7f00:1::1", false}, // 6to4 of 127.0.0.1
		{"fe80::1%eth0", false},   // zoned link-local
		{"8.8.8.8", true},
		{"162.159.128.233", true}, // discord.com
		{"::ffff:8.8.8.8", true},
		{"2606:4700::6810:84e5", true},
		{"64:ff9b::808:808", true}, // NAT64 of 8.8.8.8
	}
	for _, tc := range tests {
		if got := channel.Allowed(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("Allowed(%s) = %v, want %v", tc.addr, got, tc.want)
		}
	}
}

// loopbackReceiver is a server the guard must never let a request reach.
func loopbackReceiver(t *testing.T, network, addr string) (port string, hits *atomic.Int32) {
	t.Helper()
	hits = new(atomic.Int32)
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("listen %s: %v", addr, err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	srv.Listener.Close()
	srv.Listener = ln
	srv.StartTLS()
	t.Cleanup(srv.Close)
	_, port, _ = net.SplitHostPort(ln.Addr().String())
	return port, hits
}

func TestSendRefusesForbiddenAddresses(t *testing.T) {
	t.Parallel()
	port4, hits4 := loopbackReceiver(t, "tcp4", "127.0.0.1:0")
	c := channel.New(channel.Options{})
	urls := []string{
		"https://127.0.0.1:" + port4 + "/hook",
		"https://[::ffff:127.0.0.1]:" + port4 + "/hook",
		"https://169.254.169.254/latest/meta-data/",
		"https://10.0.0.1/hook",
		"https://[::1]:" + port4 + "/hook",
		"https://[fd00::2]/hook",
		"https://0.0.0.0:" + port4 + "/hook",
	}
	for _, u := range urls {
		for _, k := range []channel.Kind{channel.KindWebhook, channel.KindDiscord, channel.KindNtfy} {
			ch := channel.Channel{Kind: k, Config: channel.Config{URL: u}, Secret: channel.NewWebhookSecret()}
			err := c.Send(context.Background(), ch, sampleAlert())
			if !errors.Is(err, channel.ErrForbiddenAddress) {
				t.Errorf("%s to %s: %v, want ErrForbiddenAddress", k, u, err)
			}
			if class, _ := channel.Classify(err); class != channel.Permanent {
				t.Errorf("%s to %s: class %v, want permanent", k, u, class)
			}
		}
	}
	vapid := vapidKeys(t)
	pc := channel.New(channel.Options{VAPID: vapid})
	ep := channeltest.NewPushService(t, vapid.PublicKey, vapid.Subject)
	if err := pc.Send(context.Background(), ep.Channel("https://127.0.0.1:"+port4+"/push"), sampleAlert()); !errors.Is(err, channel.ErrForbiddenAddress) {
		t.Errorf("push to loopback: %v, want ErrForbiddenAddress", err)
	}
	if n := hits4.Load(); n != 0 {
		t.Errorf("the loopback receiver got %d requests", n)
	}
}

func TestValidateURLRefusesForbiddenAddresses(t *testing.T) {
	t.Parallel()
	c := channel.New(channel.Options{})
	for _, u := range []string{
		"https://127.0.0.1/hook", "https://169.254.169.254/", "https://10.0.0.1/x", "https://[::1]/x",
		"https://[::ffff:7f00:1]/x", "https://0177.0.0.1/x",
	} {
		if _, err := c.ValidateURL(context.Background(), channel.KindWebhook, u); !errors.Is(err, channel.ErrInvalidURL) {
			t.Errorf("ValidateURL(%s) = %v, want ErrInvalidURL", u, err)
		}
	}
}

// flipResolver answers with public addresses until flipped, then with
// private ones: a DNS rebinding attack between save and send.
type flipResolver struct {
	flipped atomic.Bool
	before  netip.Addr
	after   []netip.Addr
}

func (r *flipResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if !strings.HasSuffix(host, channeltest.Host) {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	if r.flipped.Load() {
		return r.after, nil
	}
	return []netip.Addr{r.before}, nil
}

func TestDNSAnswerChangingBetweenSaveAndSendIsRefused(t *testing.T) {
	t.Parallel()
	rec := &receiver{}
	// Connection: close makes every send dial again, as a send long after
	// the save does; a kept-alive connection stays with the address it
	// was checked for.
	srv := channeltest.Start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		rec.ServeHTTP(w, r)
	}))
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	_, hits := loopbackReceiver(t, "tcp4", "127.0.0.1:"+port)

	for _, after := range [][]netip.Addr{
		{netip.MustParseAddr("127.0.0.1")},
		{netip.MustParseAddr("169.254.169.254")},
		{netip.MustParseAddr("10.0.0.1")},
		{netip.MustParseAddr("::1")},
	} {
		res := &flipResolver{before: channeltest.Addr(t), after: after}
		c := channel.New(channel.Options{Resolver: res, RootCAs: srv.Pool})
		u, err := c.ValidateURL(context.Background(), channel.KindWebhook, "https://hooks."+channeltest.Host+":"+port+"/in")
		if err != nil {
			t.Fatalf("save while the name is public: %v", err)
		}
		ch := channel.Channel{Kind: channel.KindWebhook, Config: channel.Config{URL: u}, Secret: channel.NewWebhookSecret()}
		if err := c.Send(context.Background(), ch, sampleAlert()); err != nil {
			t.Fatalf("send while the name is public: %v", err)
		}
		res.flipped.Store(true)
		err = c.Send(context.Background(), ch, sampleAlert())
		if !errors.Is(err, channel.ErrForbiddenAddress) {
			t.Errorf("send after the name moved to %v: %v, want ErrForbiddenAddress", after, err)
		}
		if _, err := c.ValidateURL(context.Background(), channel.KindWebhook, u); !errors.Is(err, channel.ErrInvalidURL) {
			t.Errorf("save after the name moved to %v: %v, want ErrInvalidURL", after, err)
		}
	}
	if n := len(rec.requests()); n != 4 {
		t.Errorf("public receiver got %d requests, want 4", n)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("loopback receiver got %d requests", n)
	}
}

// publicResolver resolves every name to one public address.
type publicResolver struct{}

func (publicResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return []netip.Addr{netip.MustParseAddr("162.159.128.233")}, nil
}

func TestValidateURL(t *testing.T) {
	t.Parallel()
	c := channel.New(channel.Options{Resolver: publicResolver{}})
	tests := []struct {
		kind channel.Kind
		url  string
		ok   bool
	}{
		{channel.KindDiscord, "https://discord.com/api/webhooks/123/abc", true},
		{channel.KindDiscord, "https://Discord.com/api/webhooks/123/abc#x", true},
		{channel.KindDiscord, "https://discordapp.com/api/webhooks/123/abc", true},
		{channel.KindDiscord, "http://discord.com/api/webhooks/123/abc", false},
		{channel.KindDiscord, "https://discord.com.evil.example/api/webhooks/1/a", false},
		{channel.KindDiscord, "https://evil.example/api/webhooks/1/a", false},
		{channel.KindDiscord, "https://discord.com/channels/1/2", false},
		{channel.KindDiscord, "https://discord.com:8443/api/webhooks/1/a", false},
		{channel.KindDiscord, "https://user:pw@discord.com/api/webhooks/1/a", false},
		{channel.KindSlack, "https://hooks.slack.com/services/T0/B0/xyz", true},
		{channel.KindSlack, "https://hooks.slack.com.evil.example/services/T0/B0/xyz", false},
		{channel.KindSlack, "https://slack.com/services/T0/B0/xyz", false},
		{channel.KindSlack, "https://hooks.slack.com/", false},
		{channel.KindNtfy, "https://ntfy.sh/my-seats", true},
		{channel.KindNtfy, "https://ntfy.example.org:8443/alerts", true},
		{channel.KindNtfy, "https://ntfy.sh/", false},
		{channel.KindNtfy, "http://ntfy.sh/x", false},
		{channel.KindWebhook, "https://example.org/hooks/pmc", true},
		{channel.KindWebhook, "ftp://example.org/x", false},
		{channel.KindWebhook, "", false},
		{channel.KindWebhook, "https:///nohost", false},
	}
	for _, tc := range tests {
		got, err := c.ValidateURL(context.Background(), tc.kind, tc.url)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateURL(%s, %q) = %q, %v; want ok=%v", tc.kind, tc.url, got, err, tc.ok)
		}
		if err == nil && strings.Contains(got, "#") {
			t.Errorf("ValidateURL(%q) kept the fragment: %q", tc.url, got)
		}
	}
}

func TestVAPIDCheck(t *testing.T) {
	t.Parallel()
	good := vapidKeys(t)
	tests := []struct {
		name string
		v    channel.VAPID
		ok   bool
	}{
		{"unset", channel.VAPID{Subject: "mailto:x@example.org"}, true},
		{"generated", good, true},
		{"https subject", channel.VAPID{PublicKey: good.PublicKey, PrivateKey: good.PrivateKey, Subject: "https://pickmyclass.app"}, true},
		{"public only", channel.VAPID{PublicKey: good.PublicKey, Subject: good.Subject}, false},
		{"keys swapped", channel.VAPID{PublicKey: good.PrivateKey, PrivateKey: good.PublicKey, Subject: good.Subject}, false},
		{"bare email subject", channel.VAPID{PublicKey: good.PublicKey, PrivateKey: good.PrivateKey, Subject: "ops@example.org"}, false},
	}
	for _, tc := range tests {
		if err := tc.v.Check(); (err == nil) != tc.ok {
			t.Errorf("%s: Check() = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

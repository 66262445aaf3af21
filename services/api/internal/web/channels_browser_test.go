package web_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	webpush "github.com/SherClockHolmes/webpush-go"
	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"

	"github.com/pickmyclass/pickmyclass/pkg/channel"
	"github.com/pickmyclass/pickmyclass/pkg/channel/channeltest"
)

// pushProbe wraps PushManager.subscribe to record what the page asks for.
// The browser's own push service (FCM for Chromium) is out of reach of a
// test machine, so when the real subscription fails the wrapper records the
// failure and answers with a stand-in subscription for the test's push
// receiver: everything up to and including the subscription request is the
// browser's own, and the rest of the flow (storing it, sending to it) runs
// for real against a receiver that decrypts.
//
// The record is kept in sessionStorage: the page navigates away once the
// subscription is stored.
const pushProbe = `(function () {
  var rec = { calls: [], realError: "", realOK: false };
  function save() { sessionStorage.setItem("pmcPush", JSON.stringify(rec)); }
  var standIn = %s;
  var orig = PushManager.prototype.subscribe;
  PushManager.prototype.subscribe = function (opts) {
    var k = opts.applicationServerKey;
    var b = new Uint8Array(k instanceof ArrayBuffer ? k : k.buffer);
    rec.calls.push({
      userVisibleOnly: opts.userVisibleOnly === true,
      key: btoa(String.fromCharCode.apply(null, b)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")
    });
    save();
    var real = orig.call(this, opts).then(function () { rec.realOK = true; }, function (err) {
      rec.realError = String(err);
    });
    var timeout = new Promise(function (resolve) {
      setTimeout(function () { rec.realError = rec.realError || "no answer from the push service within 5 s"; resolve(); }, 5000);
    });
    return Promise.race([real, timeout]).then(function () {
      save();
      return { endpoint: standIn.endpoint, toJSON: function () { return standIn; } };
    });
  };
  return true;
})()`

// TestBrowserPushSubscription drives the settings page's "Turn on browser
// push" in headless Chromium: the service worker registers, PushManager is
// asked to subscribe with the server's VAPID key, the subscription is
// stored as an active channel, and a test alert sent to it is decrypted by
// the receiver.
func TestBrowserPushSubscription(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	priv, pub, err := webpush.GenerateVAPIDKeys()
	if err != nil {
		t.Fatal(err)
	}
	vapid := channel.VAPID{PublicKey: pub, PrivateKey: priv, Subject: "mailto:ops@pickmyclass.test"}
	e := setup(t, withChannels(t, vapid))
	u := e.user("student@example.edu", false)
	ps := channeltest.NewPushService(t, pub, vapid.Subject)
	srv := channeltest.Start(t, ps)
	sub := ps.Channel(hostURL(srv, "/push/chromium"))
	standIn, err := json.Marshal(map[string]any{"endpoint": sub.Config.Endpoint, "expirationTime": nil,
		"keys": map[string]string{"p256dh": sub.Config.P256dh, "auth": sub.Secret}})
	if err != nil {
		t.Fatal(err)
	}

	b := newBrowser(t, e.url)
	b.do("sign in",
		b.open("/login"),
		chromedp.SendKeys(chromedp.ID("email"), u.Email),
		chromedp.SendKeys(chromedp.ID("password"), testPassword),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type=submit]`)),
		chromedp.WaitVisible(text("h2", "No classes yet")),
	)
	b.do("allow notifications",
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			br := chromedp.FromContext(ctx).Browser
			for _, name := range []string{"notifications", "push"} {
				if _, err := cdp.Call(ctx, br, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
					Permission: &cdpbrowser.PermissionDescriptor{Name: name, UserVisibleOnly: true},
					Setting:    cdpbrowser.PermissionSettingGranted, Origin: e.url,
				}); err != nil {
					return err
				}
			}
			return nil
		}),
	)
	b.do("settings",
		b.open("/settings"),
		chromedp.WaitVisible(chromedp.ID("push-subscribe")),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](strings.Replace(pushProbe, "%s", string(standIn), 1))(ctx, t)
			return err
		}),
		chromedp.Click(chromedp.ID("push-subscribe")),
		chromedp.WaitVisible(text("p", "Browser push is on for this browser")),
		b.shots("settings-push"),
	)

	type probe struct {
		Calls []struct {
			UserVisibleOnly bool   `json:"userVisibleOnly"`
			Key             string `json:"key"`
		} `json:"calls"`
		RealError string `json:"realError"`
		RealOK    bool   `json:"realOK"`
	}
	got, err := chromedp.Run(b.ctx, chromedp.Evaluate[probe](`JSON.parse(sessionStorage.getItem("pmcPush") || '{"calls": []}')`))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Calls) != 1 || got.Calls[0].Key != pub || !got.Calls[0].UserVisibleOnly {
		t.Fatalf("PushManager.subscribe calls = %+v, want one with userVisibleOnly and the VAPID key %s", got.Calls, pub)
	}
	if got.RealOK {
		t.Log("Chromium reached its push service; the stored subscription is the test receiver's stand-in all the same")
	} else {
		t.Logf("Chromium could not reach a push service (%s): the browser is checked up to the subscription request, the rest with a stand-in subscription", got.RealError)
	}
	worker, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](
		`navigator.serviceWorker.getRegistration("/static/").then(function (r) { return r && r.active ? r.active.scriptURL : ""; })`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if worker != e.url+"/static/sw.js" {
		t.Errorf("active service worker = %q, want %s/static/sw.js", worker, e.url)
	}

	cs, err := e.db.ListChannels(context.Background(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || cs[0].Kind != channel.KindWebPush || !cs[0].Active() || cs[0].Config.Endpoint != sub.Config.Endpoint {
		t.Fatalf("channels after subscribing = %+v", cs)
	}
	b.do("test alert",
		chromedp.Click(text("button", "Send a test alert")),
		chromedp.WaitVisible(text("p", "Test alert sent")),
	)
	if err := ps.Err(); err != nil {
		t.Fatal(err)
	}
	if p := ps.Payloads(); len(p) != 1 || p[0].Title != "PickMyClass test alert" {
		t.Errorf("decrypted pushes = %+v", p)
	}
}

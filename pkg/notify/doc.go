// Package notify builds and sends the alert emails PickMyClass sends when a
// watched section or course changes: the alert templates (a seat opened,
// an instructor was assigned, the seats alerted about are gone again), for
// a watched section, any section of a course, or a lecture with its labs,
// and the summary of watches stopped at their enrollment deadline, all
// rendered to HTML and plain text; an SMTP sender that tells
// permanent rejections from temporary failures, a rate-limited wrapper so
// every worker shares one sending budget, and the signed tokens behind the
// one-click unsubscribe links.
//
// The package imports nothing from this repository but pkg/catalog, whose
// section and event types the templates render, and pkg/obs, which registers
// its metrics. Tests send over real SMTP to the sink in notify/smtptest.
package notify

package main

import (
	"strings"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/catalog/asu"
	"github.com/pickmyclass/pickmyclass/pkg/notify"
	"github.com/pickmyclass/pickmyclass/pkg/store"
)

// expirySummary writes the email telling a user which watches stopped at
// their enrollment deadline, with a link to the dashboard under baseURL.
func expirySummary(baseURL string) store.ExpiryMail {
	dashboard := strings.TrimRight(baseURL, "/") + "/dashboard"
	return func(to string, ws []store.ExpiredWatch) (store.OutboxMail, error) {
		items := make([]notify.ExpiredWatch, len(ws))
		for i, w := range ws {
			items[i] = notify.ExpiredWatch{
				Kind: w.Kind, Term: asu.TermName(w.Term), Course: w.Subject + " " + w.CatalogNbr,
				ClassNbr: w.ClassNbr, Title: w.Title,
				// The deadline is the end of the last day to enroll; the
				// email names that day, as the university does.
				Deadline: w.Deadline.Add(-time.Second).In(asu.Phoenix),
			}
		}
		e, err := notify.RenderExpirySummary(to, dashboard, items)
		if err != nil {
			return store.OutboxMail{}, err
		}
		return store.OutboxMail{To: e.To, Subject: e.Subject, Text: e.Text, HTML: e.HTML}, nil
	}
}

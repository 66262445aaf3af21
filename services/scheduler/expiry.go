package main

import (
	"fmt"
	"strings"

	"github.com/pickmyclass/pickmyclass/pkg/store"
)

// expirySummary writes the email telling a user which watches stopped at
// their enrollment deadline.
func expirySummary(baseURL string) store.ExpiryMail {
	return func(to string, ws []store.ExpiredWatch) (store.OutboxMail, error) {
		var b strings.Builder
		fmt.Fprintf(&b, "Enrollment has closed for %d of your watches, so PickMyClass stopped checking them:\n\n", len(ws))
		for _, w := range ws {
			what := w.Subject + " " + w.CatalogNbr
			if w.ClassNbr != "" {
				what += " #" + w.ClassNbr
			}
			fmt.Fprintf(&b, "- %s %s (term %s), enrollment deadline %s\n", what, w.Title, w.Term, w.Deadline.Format("Jan 2, 2006"))
		}
		fmt.Fprintf(&b, "\nThey no longer count toward your limit. Your dashboard: %s/dashboard\n", strings.TrimRight(baseURL, "/"))
		return store.OutboxMail{To: to, Subject: fmt.Sprintf("Enrollment closed for %d of your watches", len(ws)), Text: b.String()}, nil
	}
}

package chaos

// security is the report's security table. Its tests are the packages' own
// (`make test` runs them), not fault scenarios; the results are those of
// their last run, stated in the section.
const security = `## Security and correctness review

What an OWASP ASVS level 2 review and a correctness read of the pipeline asked for, the test in the package that owns each item, and what the test observed (all run with ` + "`go test -race`" + ` against real PostgreSQL, Redis and SMTP, 2026-12-03).

| item | test | result |
|---|---|---|
| ` + "`ops admin promote`" + ` refuses an account whose email is unconfirmed; ` + "`ops admin create`" + ` on a taken email says to reset its password first | ` + "`TestPromoteAdmin`" + ` (pkg/store), ` + "`TestAdminCreateAndPromote`" + ` (services/ops) | pass: ErrUnverified, account stays a plain user; hint names /forgot-password |
| admin routes need a confirmed email | ` + "`TestAdminRoutesNeedAConfirmedEmail`" + ` (web) | pass: an unconfirmed admin gets 404 on 4 admin routes |
| a password check is reserved before bcrypt (one serialized step per email and client) | ` + "`TestConcurrentLoginsCheckAtMostFivePasswords`" + ` (web), ` + "`TestLoginReservationsRace`" + ` (pkg/store) | pass: 30 parallel wrong passwords → 5 checks recorded, 4 × 401 and 26 × 429; 30 racing reservations → 5 |
| lockout is per (email, client address); a password reset lifts it | ` + "`TestLockoutIsPerClientAndLiftedByReset`" + ` (web), ` + "`TestLockoutPerEmailAndClientInWindowSinceLastSuccess`" + `, ` + "`TestNewPasswordLiftsLockout`" + ` (pkg/store) | pass: a stranger's 6 failures do not lock the owner out from another address; reset → sign-in works |
| account email goes through a PostgreSQL outbox; forgot-password and registration are each one statement whether or not the account exists | ` + "`TestAuthMailGoesThroughTheOutbox`" + ` (web), ` + "`TestRequestPasswordReset`" + `, ` + "`TestRegisterQueuesOneMailEitherWay`" + `, ` + "`TestOutboxClaimRetryAndExpiry`" + ` (pkg/store) | pass: SMTP answering 451 → both requests 202 with the same body and no message accepted; after recovery the reset link is delivered over SMTP, nothing to the unknown address |
| add-watch checks limit and duplicate before the class search, caches lookups, limits them per user, goes through the shared breaker | ` + "`TestAddWatchSparesTheClassSearch`" + ` (web) | pass: duplicate, over-limit, cached and breaker-open adds make 0 upstream requests; the 4th lookup in a minute (limit 3) is 429; breaker open → 503 with Retry-After |
| live-update streams: per-user and per-process caps, session re-checked, bounded lifetime | ` + "`TestLiveUpdateStreamsEndWithTheSession`" + `, ` + "`TestLiveUpdateStreamsAreCappedAndBounded`" + ` (web) | pass: the stream ends after sign-out, after a password change elsewhere and after the account is disabled; 3rd stream of a user (cap 2) and 4th of the process (cap 3) are 429; streams end at their lifetime and free their slots |
| a row without seat counts is "unknown", never 0 of 0 closed, never an alert | ` + "`TestRowWithoutSeatCountsIsUnknown`" + ` (pkg/catalog/asu), ` + "`TestDetect`" + ` (pkg/catalog), ` + "`TestApplyUnknownSeatsAreNoEvidence`" + ` (pkg/store) | pass: 7 row shapes parse as unknown; open → unknown → open claims nothing; full → unknown → open claims once |
| a state older than the scheduler's interval is no baseline for a new watcher | ` + "`TestApplyStaleBaselineAlertsOnlyThoseWhoWereWatching`" + `, ` + "`TestPruneSectionStates`" + ` (pkg/store) | pass: a 3-hour-old full state that opens alerts the watcher of 4 hours, not the one of 1 hour; a 10-minute-old one alerts the new watcher; states unwatched for 30 days are pruned |
| a delayed alert (email or channel) is checked again before it is sent | ` + "`TestDelayedAlertIsCheckedAgainstTheCurrentState`" + `, ` + "`TestDelayedDeliveryIsCheckedAgainstTheCurrentState`" + ` (pkg/store) | pass: seat gone → skipped; superseded by a later opening → only the newer sent; 3 h old with no observation since → skipped; 3 h old but seen open a minute ago → sent |
| public health shows no error text | ` + "`TestPublicHealthHidesErrorText`" + ` (web) | pass: 503, every failing check "not answering", no address or driver message |
| ` + "`/verify-email?sent=`" + ` shows no text from the link | ` + "`TestVerifyPageShowsNoTextFromTheLink`" + ` (web) | pass |
| Caddy's access log keeps no ` + "`?token=`" + ` | ` + "`TestAccessLogDropsTokens`" + ` (deploy/check), ` + "`deploy/lint.sh`" + ` (caddy adapt) | pass (text check; the caddy check runs where caddy is installed) |
| sessions: absolute lifetime, list and revoke | ` + "`TestSessionAbsoluteLifetime`" + `, ` + "`TestSessionListAndRevoke`" + ` (web) | pass: a 91-day-old session in use is refused; use near day 90 extends to day 90 only; another user's session is 404, a revoked one signs that browser out |
| current-password checks are limited | ` + "`TestCurrentPasswordChecksAreLimited`" + ` (web) | pass: the 5th wrong current password (change or delete) locks both, the right one included |
| JSON answers are ` + "`Cache-Control: no-store`" + ` | ` + "`TestJSONIsNeverCached`" + ` (web) | pass: 9 answers, successes and errors, signed in or not |
| a deleted account's email registers again; retention text matches the code | ` + "`TestDeletedAccountRetentionAndReregistration`" + ` (web) | pass: alert history gone at once, as the privacy and settings pages say; the address registers, verifies and signs in to a new account |
| bcrypt cost 12 | ` + "`TestPasswordHashCost`" + ` (web), ` + "`TestAdminCreateAndPromote`" + ` (services/ops) | pass: new hashes cost 12; a cheaper hash is replaced at sign-in |
| an email when the password changes | ` + "`TestPasswordChangeIsMailed`" + ` (web) | pass: after a change in settings and after a reset |
| CSRF on every state-changing route | ` + "`TestCSRFEveryStateChangingRoute`" + ` (web) | pass: all 32 POST/PUT/DELETE routes (read from the route table) refuse 6 kinds of bad request with 403 and change nothing; exactly 3 exempt (signed unsubscribe and webhooks) |

`

//go:build chaos

package chaos

// full is true under `make chaos` (build tag chaos): every scenario runs
// its full trials and outage durations.
const full = true

// Package asusimtest starts a simulated ASU catalog for tests.
package asusimtest

import (
	"net/http/httptest"
	"testing"

	"github.com/pickmyclass/pickmyclass/pkg/catalog/asusim"
)

// Start serves sc over real HTTP until the test ends. It returns the
// simulator, for mutations and assertions, and the base URL to configure an
// asu.Client with (ending in asusim.BasePath).
func Start(t testing.TB, sc asusim.Scenario) (*asusim.Server, string) {
	t.Helper()
	sim := asusim.New(sc)
	hs := httptest.NewServer(sim)
	t.Cleanup(hs.Close)
	return sim, hs.URL + asusim.BasePath
}

// Package channeltest runs alert receivers for tests: HTTPS servers on an
// address the SSRF guard lets through, so tests exercise the same guarded
// client production uses, with nothing switched off.
package channeltest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/channel"
	"github.com/pickmyclass/pickmyclass/pkg/testenv"
)

var (
	addrOnce sync.Once
	addr     netip.Addr
)

// Addr returns an address of this machine that the guard allows (one that
// is not loopback, private or link-local), or skips the test — fails it
// under CI — when the machine has none.
func Addr(t testing.TB) netip.Addr {
	t.Helper()
	addrOnce.Do(func() {
		ifaddrs, err := net.InterfaceAddrs()
		if err != nil {
			return
		}
		for _, ia := range ifaddrs {
			p, err := netip.ParsePrefix(ia.String())
			if err != nil {
				continue
			}
			if a := p.Addr(); channel.Allowed(a) {
				addr = a
				return
			}
		}
	})
	if !addr.IsValid() {
		msg := "channeltest: this machine has no address the SSRF guard allows; receivers need one"
		if testenv.Required() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return addr
}

// Server is an HTTPS receiver.
type Server struct {
	*httptest.Server
	// Pool trusts the server's certificate.
	Pool *x509.CertPool
}

// Host is a DNS name the receivers' certificate covers besides their
// address, for tests that resolve names with their own resolver.
const Host = "receiver.test"

// Start runs h over HTTPS on Addr until the test ends. Its certificate
// names Addr and Host.
func Start(t testing.TB, h http.Handler) *Server {
	t.Helper()
	a := Addr(t)
	ln, err := net.Listen("tcp", netip.AddrPortFrom(a, 0).String())
	if err != nil {
		t.Fatalf("channeltest: listen: %v", err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = ln
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{certificate(t, a)}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return &Server{Server: srv, Pool: pool}
}

// certificate makes a self-signed certificate for a and Host.
func certificate(t testing.TB, a netip.Addr) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: Host},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{Host, "*." + Host},
		IPAddresses:           []net.IP{a.AsSlice()},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

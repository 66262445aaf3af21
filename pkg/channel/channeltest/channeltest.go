// Package channeltest runs alert receivers for tests and benchmarks: HTTPS
// servers on an address the SSRF guard lets through, so they exercise the
// same guarded client production uses, with nothing switched off.
package channeltest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/channel"
	"github.com/pickmyclass/pickmyclass/pkg/testenv"
)

// LocalAddr returns an address of this machine that the guard allows (one
// that is not loopback, private or link-local), if it has one.
var LocalAddr = sync.OnceValues(func() (netip.Addr, bool) {
	ifaddrs, err := net.InterfaceAddrs()
	if err != nil {
		return netip.Addr{}, false
	}
	for _, ia := range ifaddrs {
		p, err := netip.ParsePrefix(ia.String())
		if err != nil {
			continue
		}
		if a := p.Addr(); channel.Allowed(a) {
			return a, true
		}
	}
	return netip.Addr{}, false
})

// Addr is LocalAddr for a test: it skips the test — fails it under CI —
// when the machine has no such address.
func Addr(t testing.TB) netip.Addr {
	t.Helper()
	a, ok := LocalAddr()
	if !ok {
		msg := "channeltest: this machine has no address the SSRF guard allows; receivers need one"
		if testenv.Required() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return a
}

// Server is an HTTPS receiver.
type Server struct {
	*httptest.Server
	// Pool trusts the server's certificate: it holds the process's test
	// CA, which signs every receiver's certificate.
	Pool *x509.CertPool
}

// Host is a DNS name the receivers' certificates cover besides their
// address, for tests that resolve names with their own resolver.
const Host = "receiver.test"

// Start runs h over HTTPS on Addr until the test ends. Its certificate,
// signed by the test CA, names Addr and Host.
func Start(t testing.TB, h http.Handler) *Server {
	t.Helper()
	a := Addr(t)
	ln, err := net.Listen("tcp", netip.AddrPortFrom(a, 0).String())
	if err != nil {
		t.Fatalf("channeltest: listen: %v", err)
	}
	return Serve(t, ln, h)
}

// Serve runs h over HTTPS on ln until the test ends.
func Serve(t testing.TB, ln net.Listener, h http.Handler) *Server {
	t.Helper()
	srv, err := NewServer(ln, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// NewServer runs h over HTTPS on ln with a certificate from the test CA for
// ln's address and Host; the caller closes it.
func NewServer(ln net.Listener, h http.Handler) (*Server, error) {
	c, err := testCA()
	if err != nil {
		return nil, err
	}
	ap, err := netip.ParseAddrPort(ln.Addr().String())
	if err != nil {
		return nil, err
	}
	leaf, err := c.issue(ap.Addr())
	if err != nil {
		return nil, err
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = ln
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{leaf}}
	srv.StartTLS()
	pool := x509.NewCertPool()
	pool.AddCert(c.cert)
	return &Server{Server: srv, Pool: pool}, nil
}

// ca is the process's test certificate authority.
type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

var testCA = sync.OnceValues(func() (*ca, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "PickMyClass test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(48 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &ca{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
})

var serial atomic.Int64

func (c *ca) issue(a netip.Addr) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1) + 1),
		Subject:      pkix.Name{CommonName: Host},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{Host, "*." + Host},
		IPAddresses:  []net.IP{a.AsSlice()},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// CAFile writes the test CA's certificate to a file in dir and returns its
// path. Pointing SSL_CERT_FILE at it, before anything in the process uses
// TLS, makes a service under test trust the receivers with no setting of
// its own.
func CAFile(dir string) (string, error) {
	c, err := testCA()
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "channeltest-ca.pem")
	return p, os.WriteFile(p, c.pem, 0o600)
}

package channel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// ErrForbiddenAddress is returned when a user-typed URL leads to an address
// outgoing alerts must never reach: the machine itself, the private network
// behind it or a cloud metadata service.
var ErrForbiddenAddress = errors.New("channel: address not allowed")

// forbidden lists the networks an alert never goes to. IPv4-mapped and
// IPv4-compatible IPv6 forms are unmapped before the check, and NAT64 and
// 6to4 addresses are checked by the IPv4 address they embed. The
// documentation ranges (192.0.2.0/24 and its kin) are not listed: they route
// nowhere on the internet, and test networks use them for hosts that must
// look public.
var forbidden = mustPrefixes(
	"0.0.0.0/8",      // "this network", including the unspecified address
	"10.0.0.0/8",     // private
	"100.64.0.0/10",  // carrier-grade NAT
	"127.0.0.0/8",    // loopback
	"169.254.0.0/16", // link-local, including the 169.254.169.254 metadata service
	"172.16.0.0/12",  // private
	"192.0.0.0/24",   // IETF protocol assignments
	"192.168.0.0/16", // private
	"198.18.0.0/15",  // benchmarking
	"224.0.0.0/4",    // multicast
	"240.0.0.0/4",    // reserved, including broadcast
	"::/128",         // unspecified
	"::1/128",        // loopback
	"100::/64",       // discard
	"fc00::/7",       // unique local
	"fe80::/10",      // link-local
	"fec0::/10",      // site-local (deprecated, still routed by some stacks)
	"ff00::/8",       // multicast
)

func mustPrefixes(ss ...string) []netip.Prefix {
	ps := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		ps[i] = netip.MustParsePrefix(s)
	}
	return ps
}

// embeddedIPv4 returns the IPv4 address inside a NAT64 (64:ff9b::/96) or
// 6to4 (2002::/16) address, which a gateway would turn into a connection to
// that IPv4 address.
func embeddedIPv4(a netip.Addr) (netip.Addr, bool) {
	b := a.As16()
	switch {
	case netip.MustParsePrefix("64:ff9b::/96").Contains(a):
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), true
	case netip.MustParsePrefix("2002::/16").Contains(a):
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}), true
	case a.Is4In6():
		return a.Unmap(), true
	}
	// IPv4-compatible ::a.b.c.d (deprecated, still parsed by some stacks).
	if netip.MustParsePrefix("::/96").Contains(a) {
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), true
	}
	return netip.Addr{}, false
}

// Allowed reports whether an alert may be sent to address a.
func Allowed(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.WithZone("")
	if v4, ok := embeddedIPv4(a); ok && v4 != a {
		if !Allowed(v4) {
			return false
		}
		if a.Is4In6() {
			return true
		}
	}
	if a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return false
	}
	for _, p := range forbidden {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// control refuses a connection about to be made to a forbidden address. It
// runs after DNS resolution, on the very address the socket connects to, so
// a name that resolved to a public address when the channel was saved and
// to a private one now is still refused.
func control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %q is not an IP address", ErrForbiddenAddress, address)
	}
	if !Allowed(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrForbiddenAddress, ap.Addr())
	}
	return nil
}

// Resolver looks up the addresses of a host name. *net.Resolver satisfies
// it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// guardedDialer dials only allowed addresses. The host is resolved by
// resolver and every answer is tried in turn; the dialer's Control checks
// each address again at connect time, so nothing the resolver returns can
// lead past the guard.
type guardedDialer struct {
	resolver Resolver
	dialer   net.Dialer
}

func newGuardedDialer(r Resolver, timeout time.Duration) *guardedDialer {
	if r == nil {
		r = net.DefaultResolver
	}
	return &guardedDialer{resolver: r, dialer: net.Dialer{Timeout: timeout, Control: control}}
}

func (d *guardedDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	addrs, err := resolve(ctx, d.resolver, host)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, a := range addrs {
		c, err := d.dialer.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// resolve returns the addresses of host, which may be an IP literal.
func resolve(ctx context.Context, r Resolver, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, nil
	}
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", host, err)
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("resolve %s: no address", host)
	}
	return addrs, nil
}

// checkHost resolves host and refuses it when any of its addresses is
// forbidden. It is the early, friendly check made when a channel is saved;
// the dialer's check at send time is the one that protects.
func checkHost(ctx context.Context, r Resolver, host string) error {
	if r == nil {
		r = net.DefaultResolver
	}
	addrs, err := resolve(ctx, r, host)
	if err != nil {
		return err
	}
	for _, a := range addrs {
		if !Allowed(a) {
			return fmt.Errorf("%w: %s resolves to %s", ErrForbiddenAddress, host, a)
		}
	}
	return nil
}

package exporter

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// loopbackProbeTimeout bounds PlainLoopback's handshake.
const loopbackProbeTimeout = 3 * time.Second

// PlainLoopback reports whether host (HOST[:PORT], port 443 when none) is
// a registry on this machine (localhost, 127.0.0.0/8, ::1; isLoopback)
// that speaks plain HTTP: it answers a TLS handshake with bytes that are
// no TLS record (an HTTP status line, or, from a server that takes the
// handshake for an HTTP/0.9 request, as Python's http.server does, an
// HTML page without one): no TLS client could talk to it. Docker and
// BuildKit reach such a registry over plain HTTP without being told, and
// so can affix. Nothing but the handshake is sent, no HTTP request. It
// is false, leaving the registry to HTTPS:
//   - for a host that is not a loopback one (never contacted);
//   - for a host with TLS files in CertsDirs (its owner set it up for
//     HTTPS, and a plain server on its port is not it);
//   - when "localhost" resolves to an address that is not a loopback one
//     (no /etc/hosts entry, a DNS search domain);
//   - for any other outcome: TLS, a refused connection, a timeout.
func PlainLoopback(ctx context.Context, host string) bool {
	if !isLoopback(host) || hasCertsDir(CertsDirs, host) {
		return false
	}
	name, port, err := net.SplitHostPort(host)
	if err != nil {
		name, port = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"), "443"
	}
	ctx, cancel := context.WithTimeout(ctx, loopbackProbeTimeout)
	defer cancel()
	if !resolvesToLoopback(ctx, name) {
		return false
	}
	d := tls.Dialer{
		NetDialer: &net.Dialer{Control: loopbackOnly},
		Config:    &tls.Config{ServerName: name, MinVersion: tls.VersionTLS12},
	}
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(name, port))
	if err == nil {
		conn.Close()
		return false
	}
	// crypto/tls sets Conn on the "first record does not look like a
	// TLS handshake" error alone, not on a TLS server's bad record.
	var rh tls.RecordHeaderError
	return errors.As(err, &rh) && rh.Conn != nil
}

// resolvesToLoopback reports whether every address name resolves to is
// a loopback one (an IP address is itself): the HTTP requests that follow
// the probe resolve it again, and may connect to any of them.
func resolvesToLoopback(ctx context.Context, name string) bool {
	if ip := net.ParseIP(name); ip != nil {
		return ip.IsLoopback()
	}
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, name)
	if err != nil || len(addrs) == 0 {
		return false
	}
	for _, a := range addrs {
		if !a.IP.IsLoopback() {
			return false
		}
	}
	return true
}

// errNotLoopback refuses a connection to an address that is not a
// loopback one.
var errNotLoopback = errors.New("not a loopback address")

// loopbackOnly is a net.Dialer Control function that refuses a
// connection to an address that is not a loopback one: a "localhost" that
// resolves elsewhere (no /etc/hosts entry, a DNS search domain) is not
// this machine.
func loopbackOnly(_, address string, _ syscall.RawConn) error {
	h, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(h); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%s: %w", address, errNotLoopback)
	}
	return nil
}

// hasCertsDir reports whether one of dirs has a directory for host, as
// hostTLSConfig reads it.
func hasCertsDir(dirs []string, host string) bool {
	for _, dir := range dirs {
		if fi, err := os.Stat(filepath.Join(dir, host)); err == nil && fi.IsDir() {
			return true
		}
	}
	return false
}

// SameRegistry reports whether the registry hosts a and b (HOST[:PORT]
// as references name them) are one registry: equal but for case, or
// "localhost" and one of the addresses it names (127.0.0.1, ::1) on the
// same port, as "localhost:5000" and "127.0.0.1:5000" are. Two loopback
// addresses are not taken for one (a registry may listen on 127.0.0.1
// and another on 127.0.0.2 or ::1, on one port). affix mounts blobs
// across repositories of one registry only; a mount a registry cannot
// serve is answered with an upload, so a wrong guess costs no request.
func SameRegistry(a, b string) bool {
	if strings.EqualFold(a, b) {
		return true
	}
	ha, pa := splitHostPort(a)
	hb, pb := splitHostPort(b)
	if pa != pb {
		return false
	}
	localhost := func(h string) bool { return strings.EqualFold(h, "localhost") }
	named := func(h string) bool { return h == "127.0.0.1" || h == "::1" }
	return localhost(ha) && named(hb) || localhost(hb) && named(ha)
}

// splitHostPort returns the host (without brackets) and port of host
// (HOST[:PORT]); the port is "" when it names none.
func splitHostPort(host string) (string, string) {
	if h, port, err := net.SplitHostPort(host); err == nil {
		return h, port
	}
	return strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"), ""
}

// isLoopback reports whether host ([HOST][:PORT] as a reference names it)
// is this machine's: localhost, or a loopback IP address (127.0.0.0/8,
// ::1). Names are not resolved.
func isLoopback(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

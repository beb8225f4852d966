package exporter

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"time"
)

// loopbackProbeTimeout bounds PlainLoopback's handshake.
const loopbackProbeTimeout = 3 * time.Second

// PlainLoopback reports whether host (HOST[:PORT], port 443 when none) is
// a registry on this machine (localhost, 127.0.0.0/8, ::1; isLoopback)
// that speaks plain HTTP: it answers a TLS handshake in HTTP. Docker and
// BuildKit reach such a registry over plain HTTP without being told, and
// so can affix: a loopback connection cannot be intercepted. Nothing but
// the handshake is sent, no HTTP request; a host that is not a loopback
// one is never contacted, and any other outcome (TLS, a refused
// connection, a timeout) is false, leaving the registry to HTTPS.
func PlainLoopback(ctx context.Context, host string) bool {
	if !isLoopback(host) {
		return false
	}
	addr := host
	if _, _, err := net.SplitHostPort(host); err != nil {
		addr = net.JoinHostPort(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"), "443")
	}
	ctx, cancel := context.WithTimeout(ctx, loopbackProbeTimeout)
	defer cancel()
	d := tls.Dialer{Config: &tls.Config{ServerName: hostOnly(addr), MinVersion: tls.VersionTLS12}}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err == nil {
		conn.Close()
		return false
	}
	var rh tls.RecordHeaderError
	return errors.As(err, &rh) && string(rh.RecordHeader[:]) == "HTTP/"
}

// hostOnly is addr (HOST:PORT) without its port.
func hostOnly(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return h
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

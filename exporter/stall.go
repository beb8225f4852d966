package exporter

import (
	"context"
	"net"
	"net/http"
	"time"
)

// DefaultStallTimeout is how long a registry connection may stay silent,
// nothing read and nothing written, before its request fails. It is long
// enough for a registry that moves a large blob into place before it
// answers the last PUT, and short enough that a registry which stops
// answering ends the push with an error instead of hanging it.
const DefaultStallTimeout = 5 * time.Minute

// defaultTransport is what Counter, Retry and NewClient send through when
// given no other: http.DefaultTransport's settings with stall-bounded
// connections, and per registry host the TLS files of CertsDirs.
var defaultTransport http.RoundTripper = &hostTransport{base: NewTransport(0)}

// NewTransport returns an http.Transport with http.DefaultTransport's
// settings whose connections fail once nothing has been read or written
// for stall (0 means DefaultStallTimeout): a response that never starts, or
// a body that stops arriving, or an upload the registry stops reading,
// becomes a timeout error (which Retry retries within its bounds) rather
// than a push that never ends. Progress, however slow, resets the clock.
func NewTransport(stall time.Duration) *http.Transport {
	if stall <= 0 {
		stall = DefaultStallTimeout
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &stallConn{Conn: c, stall: stall}, nil
	}
	return t
}

// stallConn is a connection whose every read and write moves its deadline
// stall ahead. A write moves the deadline of a pending read too, so a
// response awaited while the request body is still being sent does not
// time out.
type stallConn struct {
	net.Conn
	stall time.Duration
}

func (c *stallConn) Read(b []byte) (int, error) {
	c.Conn.SetDeadline(time.Now().Add(c.stall))
	return c.Conn.Read(b)
}

func (c *stallConn) Write(b []byte) (int, error) {
	c.Conn.SetDeadline(time.Now().Add(c.stall))
	return c.Conn.Write(b)
}

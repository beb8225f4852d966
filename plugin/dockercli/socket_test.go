package dockercli

import (
	"context"
	"crypto/rand"
	"errors"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// listen listens on a new abstract unix socket, as the docker CLI does.
func listen(t *testing.T) *net.UnixListener {
	t.Helper()
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: "@affix_test_" + rand.Text(), Net: "unix"})
	if err != nil {
		t.Skipf("abstract unix sockets: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestWatchSocketClosedByCLI(t *testing.T) {
	l := listen(t)
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	ctx, stop := WatchSocket(context.Background(), l.Addr().String())
	defer stop()
	var conn net.Conn
	select {
	case conn = <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("the plugin did not connect to the socket")
	}
	if ctx.Err() != nil {
		t.Fatalf("context cancelled before the CLI closed the socket: %v", context.Cause(ctx))
	}
	conn.Close() // docker's PluginServer.Close on SIGTERM
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("context not cancelled after the CLI closed the socket")
	}
	cause := context.Cause(ctx)
	if !errors.Is(cause, ErrCLIClosed) {
		t.Fatalf("cause = %v, want ErrCLIClosed", cause)
	}
	var s interface{ Signal() os.Signal }
	if !errors.As(cause, &s) || s.Signal() != syscall.SIGTERM {
		t.Errorf("cause %v does not stand for SIGTERM", cause)
	}
}

func TestWatchSocketStop(t *testing.T) {
	l := listen(t)
	go func() {
		c, err := l.Accept()
		if err == nil {
			defer c.Close()
			buf := make([]byte, 1)
			c.Read(buf) // until the plugin hangs up
		}
	}()
	ctx, stop := WatchSocket(context.Background(), l.Addr().String())
	stop()
	stop() // idempotent
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Fatalf("ctx.Err() = %v after stop", ctx.Err())
	}
	if cause := context.Cause(ctx); errors.Is(cause, ErrCLIClosed) {
		t.Errorf("stop reported the CLI gone: %v", cause)
	}
}

func TestWatchSocketNone(t *testing.T) {
	for _, addr := range []string{"", "@affix_test_nobody_listens_" + rand.Text()} {
		ctx, stop := WatchSocket(context.Background(), addr)
		if ctx.Err() != nil {
			t.Errorf("WatchSocket(%q): context cancelled: %v", addr, context.Cause(ctx))
		}
		stop()
	}
}

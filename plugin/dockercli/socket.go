package dockercli

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"syscall"
)

// SocketEnv names the docker CLI's plugin socket in the plugin's
// environment (docker/cli cli-plugins/socket.EnvKey).
const SocketEnv = "DOCKER_CLI_PLUGIN_SOCKET"

// errCLIClosed is the cause of a context cancelled by WatchSocket.
type errCLIClosed struct{}

func (errCLIClosed) Error() string {
	return "the docker CLI closed the plugin socket (it was told to stop)"
}

// Signal is the signal the closed socket stands for: the docker CLI closes
// it when it receives SIGINT or SIGTERM while its output is not a
// terminal (a terminal's ^C reaches the plugin itself), or when it dies.
func (errCLIClosed) Signal() os.Signal { return syscall.SIGTERM }

// ErrCLIClosed is the cancel cause of WatchSocket's context: the docker
// CLI closed its end of the plugin socket. It has a Signal method
// reporting SIGTERM, so that the command exits as on SIGTERM (143).
var ErrCLIClosed error = errCLIClosed{}

// WatchSocket connects to the docker CLI's plugin socket at addr (the
// value of SocketEnv; "@name" is an abstract socket) and returns a context
// that is cancelled with ErrCLIClosed when the docker CLI closes the
// connection, as it does when it is signalled to stop and its output is
// not a terminal (the signal then reaches docker alone, as in CI runners
// that signal the main process). It is docker/cli's socket.ConnectAndWait.
// With addr "" or a socket that cannot be reached, the context is only
// ctx's. stop closes the connection and releases the context.
func WatchSocket(ctx context.Context, addr string) (_ context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	if addr == "" {
		return ctx, func() { cancel(nil) }
	}
	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: addr, Net: "unix"})
	if err != nil {
		return ctx, func() { cancel(nil) }
	}
	var stopping sync.Once
	done := make(chan struct{})
	go func() {
		defer close(done)
		b := make([]byte, 1)
		for {
			// The docker CLI never writes: a read returns when it closes
			// its end (EOF), or the connection breaks.
			if _, err := conn.Read(b); err != nil {
				if !errors.Is(err, net.ErrClosed) {
					cancel(ErrCLIClosed)
				}
				return
			}
		}
	}()
	return ctx, func() {
		stopping.Do(func() {
			conn.Close()
			<-done
			cancel(nil)
		})
	}
}

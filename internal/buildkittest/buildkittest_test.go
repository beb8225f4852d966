package buildkittest

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/moby/buildkit/client"
)

func TestStartStop(t *testing.T) {
	bin := Require(t)
	d, err := StartDaemon(t.Context(), bin)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(t.Context(), d.Addr)
	if err != nil {
		t.Fatal(err)
	}
	ws, err := c.ListWorkers(t.Context())
	c.Close()
	if err != nil || len(ws) == 0 {
		t.Fatalf("workers %v, err %v", ws, err)
	}
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := d.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if _, err := os.Stat(d.Root); !os.IsNotExist(err) {
		t.Errorf("root %s left behind (%v)", d.Root, err)
	}
}

func TestGenerateTLS(t *testing.T) {
	server, cl, err := GenerateTLS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(server.CACert)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		t.Fatal("bad CA PEM")
	}
	for _, f := range []TLSFiles{server, cl} {
		pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			t.Fatal(err)
		}
		leaf, err := x509.ParseCertificate(pair.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		usage := x509.ExtKeyUsageClientAuth
		if f == server {
			usage = x509.ExtKeyUsageServerAuth
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: time.Now(), KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
			t.Errorf("%s: %v", f.Cert, err)
		}
	}
	pair, _ := tls.LoadX509KeyPair(server.Cert, server.Key)
	leaf, _ := x509.ParseCertificate(pair.Certificate[0])
	if err := leaf.VerifyHostname(ServerName); err != nil {
		t.Error(err)
	}
	if err := leaf.VerifyHostname("127.0.0.1"); err != nil {
		t.Error(err)
	}
}

func TestFindBusyboxMissing(t *testing.T) {
	t.Setenv(EnvBusybox, "/nonexistent/busybox")
	if _, err := FindBusybox(); err == nil {
		t.Error("FindBusybox accepted a missing file")
	}
}

func TestConfigTOML(t *testing.T) {
	var c config
	if got := c.configTOML(); got != "" {
		t.Errorf("no options: %q", got)
	}
	for _, o := range []Option{WithInsecureRegistries("127.0.0.1:5000", "localhost:5001"), WithConfig("debug = true")} {
		o(&c)
	}
	want := "debug = true\n\n[registry.\"127.0.0.1:5000\"]\n  http = true\n  insecure = true\n\n[registry.\"localhost:5001\"]\n  http = true\n  insecure = true\n"
	if got := c.configTOML(); got != want {
		t.Errorf("toml:\n%s\nwant:\n%s", got, want)
	}
}

func TestStartWithConfig(t *testing.T) {
	d := Start(t, WithInsecureRegistries("127.0.0.1:5000"), WithConfig("debug = true"))
	b, err := os.ReadFile(d.Root + "/buildkitd.toml")
	if err != nil || !strings.Contains(string(b), `[registry."127.0.0.1:5000"]`) {
		t.Fatalf("buildkitd.toml: %q, %v", b, err)
	}
}

func TestDaemonParent(t *testing.T) {
	disk := t.TempDir()
	shmIsTmpfs := onTmpfs("/dev/shm")
	for _, tt := range []struct {
		name, env, tmp, want string
		skip                 bool
	}{
		{"disk", "", disk, disk, false},
		{"tmpfs", "", "/dev/shm", "/var/tmp", !shmIsTmpfs},
		{"override", "/srv/bk", "/dev/shm", "/srv/bk", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.skip {
				t.Skip("/dev/shm is not a tmpfs here")
			}
			t.Setenv(EnvDaemonDir, tt.env)
			if got := daemonParent(tt.tmp); got != tt.want {
				t.Errorf("daemonParent(%s) = %s, want %s", tt.tmp, got, tt.want)
			}
		})
	}
}

// TestStartTakenPort starts a TCP daemon whose first port is taken by
// the time it binds: it gets another, and answers on it.
func TestStartTakenPort(t *testing.T) {
	bin := Require(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	calls := 0
	orig := freePort
	freePort = func() (int, error) {
		calls++
		if calls == 1 {
			return taken.Addr().(*net.TCPAddr).Port, nil
		}
		return orig()
	}
	defer func() { freePort = orig }()
	d, err := StartDaemon(t.Context(), bin, WithTCP(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	if calls != 2 || strings.HasSuffix(d.TCPAddr, fmt.Sprintf(":%d", taken.Addr().(*net.TCPAddr).Port)) {
		t.Fatalf("%d ports tried, daemon on %s", calls, d.TCPAddr)
	}
	c, err := client.New(t.Context(), d.TCPAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.ListWorkers(t.Context()); err != nil {
		t.Fatal(err)
	}
}

package frontend

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/platforms"

	"github.com/affix-oci/affix/internal/buildkittest"
)

// TestNodeTLSFallback: the CA and server name of a node fall back to
// the global ones field by field, the client certificate and key as a
// pair, so one CA and client certificate serve every node while each
// names its own server.
func TestNodeTLSFallback(t *testing.T) {
	_, cl, err := buildkittest.GenerateTLS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	_, ocl, err := buildkittest.GenerateTLS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	global := TLSOptions{CACert: cl.CACert, Cert: cl.Cert, Key: cl.Key}
	for _, c := range []struct {
		name   string
		node   string
		global TLSOptions
		want   TLSOptions
	}{
		{"servername only", "linux/arm64=tcp://b:1234,servername=builder-b", global,
			TLSOptions{CACert: cl.CACert, Cert: cl.Cert, Key: cl.Key, ServerName: "builder-b"}},
		{"own CA", "linux/arm64=tcp://b:1234,cacert=" + ocl.CACert, global,
			TLSOptions{CACert: ocl.CACert, Cert: cl.Cert, Key: cl.Key}},
		{"own key pair", "linux/arm64=tcp://b:1234,cert=" + ocl.Cert + ",key=" + ocl.Key, global,
			TLSOptions{CACert: cl.CACert, Cert: ocl.Cert, Key: ocl.Key}},
		{"every field", "linux/arm64=tcp://b:1234,cacert=" + ocl.CACert + ",cert=" + ocl.Cert + ",key=" + ocl.Key + ",servername=x", global,
			TLSOptions{CACert: ocl.CACert, Cert: ocl.Cert, Key: ocl.Key, ServerName: "x"}},
		{"global server name kept", "linux/arm64=tcp://b:1234,cacert=" + ocl.CACert, TLSOptions{ServerName: "g"},
			TLSOptions{CACert: ocl.CACert, ServerName: "g"}},
		{"none", "linux/arm64=tcp://b:1234", global, global},
		{"no TLS at all", "linux/arm64=tcp://b:1234", TLSOptions{}, TLSOptions{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := newPlan(Options{ContextDir: testContext(t), LookupEnv: env(nil), Nodes: []string{c.node}, TLS: c.global})
			if err != nil {
				t.Fatal(err)
			}
			if got := p.groups[0].node.tls; got != c.want {
				t.Errorf("tls = %+v, want %+v", got, c.want)
			}
		})
	}
}

// writeCert writes a self-signed client certificate valid from notBefore
// to notAfter, and its key, to dir; it returns the two paths. The dates
// must be in order, as in any certificate a CA issues, so that a check
// is tested against a certificate that can exist.
func writeCert(t *testing.T, dir, name string, notBefore, notAfter time.Time) (cert, key string) {
	t.Helper()
	if !notBefore.Before(notAfter) {
		t.Fatalf("certificate %s: NotBefore %s is not before NotAfter %s", name, notBefore, notAfter)
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// TestCheckTLS: TLS files the BuildKit client could not use are usage
// errors naming the file and the node, found before any builder is
// contacted (the addresses here are not dialled).
func TestCheckTLS(t *testing.T) {
	dir := t.TempDir()
	_, cl, err := buildkittest.GenerateTLS(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, ocl, err := buildkittest.GenerateTLS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	expired, expiredKey := writeCert(t, dir, "expired", time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC))
	future, futureKey := writeCert(t, dir, "future", time.Date(2099, 1, 2, 3, 4, 5, 0, time.UTC), time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC))
	notPEM := filepath.Join(dir, "ca.txt")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		node string // an Options.Nodes entry; empty: Builder tcp://a:1
		tls  TLSOptions
		want []string // in the error; none: no error
		is   error    // a cause the error wraps, besides ErrInvalidOption
	}{
		{name: "valid", tls: TLSOptions{CACert: cl.CACert, Cert: cl.Cert, Key: cl.Key}},
		{name: "CA only", tls: TLSOptions{CACert: cl.CACert}},
		{name: "key of another certificate", tls: TLSOptions{Cert: cl.Cert, Key: ocl.Key},
			want: []string{"builder tcp://a:1", cl.Cert, ocl.Key, "private key does not match public key"}},
		{name: "node: key of another certificate", node: "linux/arm64=tcp://b:2,cert=" + cl.Cert + ",key=" + ocl.Key, tls: TLSOptions{CACert: cl.CACert, Cert: ocl.Cert, Key: ocl.Key},
			want: []string{`node "linux/arm64=tcp://b:2,cert=`, cl.Cert, ocl.Key, "private key does not match public key"}},
		// Half a pair is refused, not completed with the global half.
		{name: "node: key only", node: "linux/arm64=tcp://b:2,key=" + ocl.Key, tls: TLSOptions{CACert: cl.CACert, Cert: cl.Cert, Key: cl.Key},
			want: []string{`node "linux/arm64=tcp://b:2,key=` + ocl.Key + `": cert and key go together`}},
		{name: "node: cert only", node: "linux/arm64=tcp://b:2,cert=" + ocl.Cert, tls: TLSOptions{CACert: cl.CACert, Cert: cl.Cert, Key: cl.Key},
			want: []string{`node "linux/arm64=tcp://b:2,cert=` + ocl.Cert + `": cert and key go together`}},
		{name: "node: cert only, no global pair", node: "linux/arm64=tcp://b:2,cert=" + ocl.Cert,
			want: []string{"cert and key go together"}},
		{name: "CA not PEM", tls: TLSOptions{CACert: notPEM},
			want: []string{"TLS CA certificate " + notPEM + ": no PEM certificate"}},
		{name: "node: CA not PEM", node: "linux/arm64=tcp://b:2,cacert=" + notPEM,
			want: []string{`node "linux/arm64=tcp://b:2,cacert=`, notPEM, "no PEM certificate"}},
		{name: "CA missing", tls: TLSOptions{CACert: filepath.Join(dir, "nope.pem")}, want: []string{filepath.Join(dir, "nope.pem")}},
		{name: "key missing", tls: TLSOptions{Cert: cl.Cert, Key: filepath.Join(dir, "nope-key.pem")}, want: []string{filepath.Join(dir, "nope-key.pem")}},
		{name: "key is a directory", tls: TLSOptions{Cert: cl.Cert, Key: dir},
			want: []string{"TLS client certificate " + cl.Cert + " and key " + dir, "is a directory"}, is: syscall.EISDIR},
		{name: "key is a certificate", tls: TLSOptions{Cert: cl.Cert, Key: cl.Cert}, want: []string{cl.Cert, "key"}},
		{name: "cert without key", tls: TLSOptions{Cert: cl.Cert}, want: []string{"cert and key must be given together"}},
		{name: "expired", tls: TLSOptions{Cert: expired, Key: expiredKey},
			want: []string{"TLS client certificate " + expired + " expired on 2024-03-01T12:00:00Z"}},
		{name: "node: expired", node: "linux/arm64=tcp://b:2,servername=b", tls: TLSOptions{Cert: expired, Key: expiredKey},
			want: []string{`node "linux/arm64=tcp://b:2,servername=b"`, expired, "expired on 2024-03-01T12:00:00Z"}},
		{name: "not yet valid", tls: TLSOptions{Cert: future, Key: futureKey},
			want: []string{"TLS client certificate " + future + " is not valid before 2099-01-02T03:04:05Z"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := Options{ContextDir: testContext(t), LookupEnv: env(nil), TLS: c.tls, Builder: "tcp://a:1"}
			if c.node != "" {
				o.Builder, o.Nodes = "", []string{c.node}
			}
			_, err := newPlan(o)
			if len(c.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidOption) {
				t.Fatalf("err = %v, want ErrInvalidOption", err)
			}
			t.Logf("error: %v", err)
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v, want it to contain %q", err, w)
				}
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("err = %v, does not wrap %v", err, c.is)
			}
		})
	}
}

// TestTLSWarnings: TLS settings that no builder uses are named in a
// warning, judged from the plan's assignment of platforms to builders;
// those a tcp:// builder that builds a platform uses are not. Bad options
// give no warnings but an error.
func TestTLSWarnings(t *testing.T) {
	_, cl, err := buildkittest.GenerateTLS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ca := TLSOptions{CACert: cl.CACert}
	full := TLSOptions{CACert: cl.CACert, Cert: cl.Cert, Key: cl.Key}
	local := platforms.FormatAll(platforms.Normalize(platforms.DefaultSpec()))
	for _, c := range []struct {
		name    string
		tls     TLSOptions
		builder string
		plats   []string // Options.Platforms
		nodes   []string
		env     map[string]string
		want    []string // substrings, one per warning, in order
		err     error
	}{
		{name: "no TLS", builder: "unix:///a.sock"},
		{name: "tcp builder", tls: full, builder: "tcp://h:1"},
		{name: "unix builder", tls: full, builder: "unix:///a.sock",
			want: []string{"--builder-tls-cacert, --builder-tls-cert, --builder-tls-key ignored: no builder is a tcp:// address (unix:///a.sock), and TLS applies to tcp:// builders only (buildkitd serves unix sockets without TLS)"}},
		{name: "ssh builder", tls: ca, builder: "ssh://me@host", want: []string{"--builder-tls-cacert ignored: no builder is a tcp:// address (ssh://me@host)"}},
		{name: "server name alone", tls: TLSOptions{ServerName: "bk"}, builder: "unix:///a.sock", want: []string{"--builder-tls-servername ignored: no builder is a tcp:// address (unix:///a.sock)"}},
		{name: "default address", tls: ca, want: []string{"(" + DefaultAddress + ")"}},
		{name: "BUILDKIT_HOST tcp", tls: ca, env: map[string]string{"BUILDKIT_HOST": "tcp://h:1"}},
		{name: "BUILDKIT_HOST unix", tls: ca, env: map[string]string{"BUILDKIT_HOST": "unix:///env.sock"}, want: []string{"(unix:///env.sock)"}},
		{name: "--builder wins over BUILDKIT_HOST", tls: ca, builder: "unix:///a.sock", env: map[string]string{"BUILDKIT_HOST": "tcp://h:1"}, want: []string{"(unix:///a.sock)"}},
		{name: "one tcp node uses them", tls: full, builder: "unix:///a.sock", nodes: []string{"linux/arm64=tcp://b:1"}},
		{name: "unix nodes", tls: ca, nodes: []string{"linux/amd64=unix:///a.sock", "linux/arm64=unix:///b.sock"},
			want: []string{"(unix:///a.sock, unix:///b.sock)"}},
		// The builders are listed once each, in platform order.
		{name: "default builder for two platforms, listed once", tls: ca, builder: "unix:///a.sock", plats: []string{"linux/arm64,linux/amd64,linux/s390x"},
			nodes: []string{"linux/amd64=unix:///n.sock"}, want: []string{"(unix:///a.sock, unix:///n.sock)"}},
		// A tcp:// default builder counts only when it builds a platform.
		{name: "tcp builder beside nodes for every platform", tls: ca, builder: "tcp://h:1", plats: []string{"linux/amd64,linux/arm64/v8"},
			nodes: []string{"linux/amd64=unix:///a.sock", "linux/arm64=unix:///b.sock"}, want: []string{"(unix:///a.sock, unix:///b.sock)"}},
		{name: "tcp builder beside nodes, no platforms", tls: ca, builder: "tcp://h:1",
			nodes: []string{"linux/amd64=unix:///a.sock"}, want: []string{"(unix:///a.sock)"}},
		{name: "BUILDKIT_HOST tcp beside nodes for every platform", tls: ca, env: map[string]string{"BUILDKIT_HOST": "tcp://h:1"},
			plats: []string{"linux/amd64"}, nodes: []string{"linux/amd64=unix:///a.sock"}, want: []string{"(unix:///a.sock)"}},
		{name: "tcp builder builds the platform without a node", tls: ca, builder: "tcp://h:1", plats: []string{"linux/amd64", "linux/arm64"},
			nodes: []string{"linux/amd64=unix:///a.sock"}},
		{name: "BUILDKIT_HOST tcp builds the platform without a node", tls: ca, env: map[string]string{"BUILDKIT_HOST": "tcp://h:1"},
			plats: []string{"linux/amd64,linux/s390x"}, nodes: []string{"linux/amd64=unix:///a.sock"}},
		// "local" is this machine's platform, which the node is given for.
		{name: "local platform has a unix node", tls: ca, builder: "tcp://h:1", plats: []string{"local"},
			nodes: []string{local + "=unix:///a.sock"}, want: []string{"(unix:///a.sock)"}},
		// A tcp:// node whose platform is not built uses nothing.
		{name: "tcp node for a platform not built", tls: ca, plats: []string{"linux/amd64"},
			nodes: []string{"linux/amd64=unix:///a.sock", "linux/arm64=tcp://b:1"}, want: []string{"(unix:///a.sock)"}},
		{name: "node TLS fields on a unix node", nodes: []string{"linux/amd64=unix:///a.sock,servername=a", "linux/arm64=tcp://b:1,cacert=" + cl.CACert},
			want: []string{"--builder linux/amd64=unix:///a.sock,servername=a: TLS fields are ignored: TLS applies to tcp:// builders only"}},
		{name: "node TLS fields and global TLS, no tcp builder", tls: ca, nodes: []string{"linux/amd64=ssh://me@a,servername=a"},
			want: []string{"--builder linux/amd64=ssh://me@a,servername=a: TLS fields are ignored", "--builder-tls-cacert ignored: no builder is a tcp:// address (ssh://me@a)"}},
		{name: "platform without a builder", tls: ca, plats: []string{"linux/amd64", "linux/arm64"},
			nodes: []string{"linux/amd64=unix:///a.sock"}, err: ErrNoNode},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := NewPlan(Options{ContextDir: testContext(t), LookupEnv: env(c.env), TLS: c.tls, Builder: c.builder, Platforms: c.plats, Nodes: c.nodes})
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("err = %v, want %v", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkWarnings(t, p.Warnings(), c.want)
		})
	}
}

// checkWarnings fails t unless got are as many warnings as want, each
// containing its want.
func checkWarnings(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("warnings %q, want %d", got, len(want))
	}
	for i, w := range want {
		if !strings.Contains(got[i], w) {
			t.Errorf("warning %q, want it to contain %q", got[i], w)
		}
	}
}

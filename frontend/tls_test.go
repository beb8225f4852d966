package frontend

import (
	"testing"

	"github.com/affix-oci/affix/internal/buildkittest"
)

// TestNodeTLSFallback: each TLS field of a node falls back to the
// global one on its own, so one CA and client certificate serve every
// node while each names its own server.
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

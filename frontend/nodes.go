package frontend

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/containerd/platforms"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// knownSchemes are the builder address schemes the BuildKit client dials
// (grpc itself, or a connection helper registered in builder.go).
var knownSchemes = map[string]bool{
	"unix": true, "tcp": true, "docker-container": true, "podman-container": true,
	"nerdctl-container": true, "kube-pod": true, "ssh": true, "npipe": true,
}

// parseAddress validates a builder address.
func parseAddress(addr string) error {
	u, err := url.Parse(addr)
	if err != nil {
		return fmt.Errorf("builder %q: %w: %w", addr, ErrInvalidOption, err)
	}
	if u.Scheme == "" && !strings.ContainsAny(addr, "/:") {
		// A buildx builder instance name: its buildkitd, where buildx runs
		// it in a container, is that container.
		return optErr("builder %q: want a buildkitd address, not a buildx builder name (a docker-container builder %[1]s is docker-container://buildx_buildkit_%[1]s0)", addr)
	}
	if !knownSchemes[u.Scheme] {
		return optErr("builder %q: unknown scheme %q (want unix, tcp, docker-container, podman-container, nerdctl-container, kube-pod, ssh or, on Windows, npipe)", addr, u.Scheme)
	}
	if u.Scheme == "npipe" && runtime.GOOS != "windows" {
		// BuildKit's npipe helper dials Windows named pipes only; say so
		// before any builder is contacted.
		return optErr("builder %q: npipe:// is a Windows named pipe, which this %s client cannot dial", addr, runtime.GOOS)
	}
	switch {
	case u.Scheme == "unix" && u.Path == "" && u.Opaque == "":
		// unix:///abs.sock has a path, unix:rel.sock (grpc takes it) an
		// opaque part.
		return optErr("builder %q: no socket path", addr)
	case u.Scheme == "npipe" && u.Path == "":
		return optErr("builder %q: no pipe path", addr)
	case u.Scheme != "unix" && u.Scheme != "npipe" && u.Host == "":
		return optErr("builder %q: no host", addr)
	}
	return nil
}

// parseNode parses an Options.Nodes entry,
// PLATFORM=ADDRESS[,cacert=..][,cert=..][,key=..][,servername=..]; tls
// is Options.TLS, which the node's own fields override.
func parseNode(s string, tls TLSOptions) (mappedNode, error) {
	m := mappedNode{entry: s}
	plat, rest, ok := strings.Cut(s, "=")
	if !ok || rest == "" {
		return m, optErr("node %q: want PLATFORM=ADDRESS[,cacert=PATH,cert=PATH,key=PATH,servername=NAME]", s)
	}
	var err error
	if m.pl, err = parsePlatform(plat); err != nil {
		return m, fmt.Errorf("node %q: %w", s, err)
	}
	fields := strings.Split(rest, ",")
	m.n.addr = fields[0]
	var own TLSOptions
	for _, f := range fields[1:] {
		k, v, ok := strings.Cut(f, "=")
		if !ok || v == "" {
			return m, optErr("node %q: field %q: want key=value", s, f)
		}
		switch strings.ToLower(k) {
		case "cacert":
			own.CACert = v
		case "cert":
			own.Cert = v
		case "key":
			own.Key = v
		case "servername":
			own.ServerName = v
		default:
			return m, optErr("node %q: unknown key %q (want cacert, cert, key or servername)", s, k)
		}
	}
	if err := parseAddress(m.n.addr); err != nil {
		return m, fmt.Errorf("node %q: %w", s, err)
	}
	// A client certificate and its key are one unit: a node that gives
	// one gives both, else both are the global ones (a node's own cert
	// paired with the global key would name a file the user never gave
	// that node). The CA and the server name fall back on their own: the
	// common setup is one CA and one client certificate for every node,
	// and a server name per host.
	if (own.Cert == "") != (own.Key == "") {
		return m, optErr("node %q: cert and key go together: give both, or neither for the global ones", s)
	}
	m.own = own
	m.n.tls = tls.with(own)
	if err := checkTLS(m.n); err != nil {
		return m, fmt.Errorf("node %q: %w", s, err)
	}
	if !isTCP(m.n.addr) {
		m.n.tls = TLSOptions{} // see isTCP
	}
	return m, nil
}

// isTCP reports whether addr is a tcp:// builder, the only kind TLS
// applies to: buildkitd serves its unix sockets without TLS, and the
// connection helpers (ssh://, docker-container://, kube-pod://, ...)
// reach buildkitd's unix socket, so TLS sent there anyway (as buildctl
// does) only fails the handshake. A node that is not tcp:// has no TLS.
func isTCP(addr string) bool { return strings.HasPrefix(addr, "tcp://") }

// checkTLS refuses half a client key pair and TLS files the BuildKit
// client could not use: it loads the key pair and the CA certificates as
// the client will, and checks the client certificate's validity dates, so
// that a bad file is a usage error naming it before any builder is
// contacted (an expired client certificate otherwise shows up as a reset
// connection, the server closing it after the TLS 1.3 handshake).
func checkTLS(n node) error {
	if !n.tls.enabled() {
		return nil
	}
	if !isTCP(n.addr) {
		return nil // TLS applies to tcp:// only; other schemes ignore it.
	}
	// Half of the global pair (--builder-tls-cert without -key): a
	// node's own half pair parseNode refused already, naming the entry;
	// this is the pair the node ends up with, from Options.TLS.
	if (n.tls.Cert == "") != (n.tls.Key == "") {
		return optErr("builder %s: TLS cert and key must be given together", n.addr)
	}
	if f := n.tls.CACert; f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("builder %s: TLS CA certificate: %w: %w", n.addr, ErrInvalidOption, err)
		}
		if !x509.NewCertPool().AppendCertsFromPEM(b) {
			return optErr("builder %s: TLS CA certificate %s: no PEM certificate in it", n.addr, f)
		}
	}
	if n.tls.Cert == "" {
		return nil
	}
	for _, f := range []string{n.tls.Cert, n.tls.Key} {
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("builder %s: TLS client certificate: %w: %w", n.addr, ErrInvalidOption, err)
		}
	}
	pair, err := tls.LoadX509KeyPair(n.tls.Cert, n.tls.Key)
	if err != nil {
		return optWrap(err, "builder %s: TLS client certificate %s and key %s", n.addr, n.tls.Cert, n.tls.Key)
	}
	leaf := pair.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return optWrap(err, "builder %s: TLS client certificate %s", n.addr, n.tls.Cert)
		}
	}
	now := time.Now()
	switch {
	case now.After(leaf.NotAfter):
		return optErr("builder %s: TLS client certificate %s expired on %s", n.addr, n.tls.Cert, leaf.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(leaf.NotBefore):
		return optErr("builder %s: TLS client certificate %s is not valid before %s", n.addr, n.tls.Cert, leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	return nil
}

// defaultBuilder is the builder for the platforms no node is given for.
type defaultBuilder struct {
	addr string
	// set reports that Options.Builder or $BUILDKIT_HOST gave it (else
	// it is DefaultAddress, which builds nothing when nodes are given).
	set bool
	// env reports that it came from $BUILDKIT_HOST.
	env bool
}

// check validates the default builder's address and TLS.
func (d defaultBuilder) check(n node) error {
	err := parseAddress(d.addr)
	if err == nil {
		err = checkTLS(n)
	}
	if err != nil && d.env {
		return fmt.Errorf("BUILDKIT_HOST: %w", err)
	}
	return err
}

// setGroups assigns the requested platforms to nodes, in request order,
// one group (one solve) per distinct node. With nodes, the default
// builder builds the platforms that no node is given for, if it is set.
func (p *plan) setGroups(d defaultBuilder, nodes []string, tls TLSOptions) error {
	def := node{addr: d.addr, tls: tls}
	if !isTCP(d.addr) {
		def.tls = TLSOptions{}
	}
	// An address given on purpose is checked even when no platform
	// falls to it; $BUILDKIT_HOST, an environment default, only when
	// one does.
	checked := false
	if len(nodes) == 0 || (d.set && !d.env) {
		if err := d.check(def); err != nil {
			return err
		}
		checked = true
	}
	if len(nodes) == 0 {
		p.groups = []group{{node: def, platforms: p.platforms}}
		return nil
	}
	var all []mappedNode
	for _, s := range nodes {
		m, err := parseNode(s, tls)
		if err != nil {
			return err
		}
		for _, o := range all {
			if platforms.FormatAll(o.pl) == platforms.FormatAll(m.pl) {
				return fmt.Errorf("node %q: platform %s has a node already: %w", s, platforms.FormatAll(m.pl), ErrInvalidPlatform)
			}
		}
		all = append(all, m)
	}
	p.nodes = all
	if len(p.platforms) == 0 {
		for _, m := range all {
			p.platforms = append(p.platforms, m.pl)
		}
	}
	byNode := map[node]int{}
	for _, pl := range p.platforms {
		n, found := def, false
		for _, m := range all {
			if platforms.FormatAll(m.pl) == platforms.FormatAll(pl) {
				n, found = m.n, true
				break
			}
		}
		if !found && !d.set {
			return fmt.Errorf("platform %s (nodes are given for %s; set --builder ADDR or BUILDKIT_HOST for the others): %w", platforms.FormatAll(pl), nodePlatforms(all), ErrNoNode)
		}
		if !found && !checked {
			if err := d.check(def); err != nil {
				return err
			}
			checked = true
		}
		i, ok := byNode[n]
		if !ok {
			i = len(p.groups)
			byNode[n] = i
			p.groups = append(p.groups, group{node: n})
		}
		p.groups[i].platforms = append(p.groups[i].platforms, pl)
	}
	return nil
}

// with returns t with the fields that own sets replaced; the client
// certificate and key are replaced together, when own sets the
// certificate (parseNode has checked that own sets both or neither).
func (t TLSOptions) with(own TLSOptions) TLSOptions {
	if own.CACert != "" {
		t.CACert = own.CACert
	}
	if own.Cert != "" {
		t.Cert, t.Key = own.Cert, own.Key
	}
	if own.ServerName != "" {
		t.ServerName = own.ServerName
	}
	return t
}

// mappedNode is one Options.Nodes entry, parsed.
type mappedNode struct {
	entry string // as given
	pl    ocispec.Platform
	n     node
	// own are the entry's own TLS fields (n.tls has the global ones
	// too, and none when the node is not tcp://).
	own TLSOptions
}

// tlsIgnored ends the warnings about TLS settings that no builder uses.
const tlsIgnored = "TLS applies to tcp:// builders only (buildkitd serves unix sockets without TLS)"

// tlsWarnings names the TLS settings that no builder uses (see isTCP):
// the TLS fields of a node that is not tcp://, and the global ones
// (Options.TLS, named by affix build's --builder-tls-* flags) when no
// builder that builds a platform, a group of p.groups, is tcp://. A
// tcp:// default builder counts only when a platform falls to it.
func (p *plan) tlsWarnings(tls TLSOptions) []string {
	var out []string
	for _, m := range p.nodes {
		if !isTCP(m.n.addr) && m.own.enabled() {
			out = append(out, fmt.Sprintf("--builder %s: TLS fields are ignored: %s", m.entry, tlsIgnored))
		}
	}
	if !tls.enabled() {
		return out
	}
	var others []string // the builders, none of them tcp://
	for _, g := range p.groups {
		if isTCP(g.node.addr) {
			return out
		}
		others = append(others, g.node.addr)
	}
	var flags []string
	for _, f := range []struct{ name, v string }{{"cacert", tls.CACert}, {"cert", tls.Cert}, {"key", tls.Key}, {"servername", tls.ServerName}} {
		if f.v != "" {
			flags = append(flags, "--builder-tls-"+f.name)
		}
	}
	return append(out, fmt.Sprintf("%s ignored: no builder is a tcp:// address (%s), and %s", strings.Join(flags, ", "), strings.Join(others, ", "), tlsIgnored))
}

func nodePlatforms(all []mappedNode) string {
	s := make([]string, len(all))
	for i, m := range all {
		s[i] = platforms.FormatAll(m.pl)
	}
	return strings.Join(s, ", ")
}

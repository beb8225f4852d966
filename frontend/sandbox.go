package frontend

import (
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/docker/go-units"
	"github.com/moby/buildkit/util/entitlements"
)

// Entitlement names, as buildx's --allow takes them.
const entitlementNetworkHost = "network.host"

// hostGateway is the IP of docker's --add-host HOST:host-gateway.
const hostGateway = "host-gateway"

// parseAddHosts parses --add-host values as buildx does
// (toBuildkitExtraHosts): HOST=IP or HOST:IP (IPv6 bare or in brackets),
// and HOST=IP,IP (one entry per address; the flag itself splits at
// commas, so this needs quotes on the command line). It returns the
// entries as BuildKit's add-hosts attribute lists them, HOST=IP.
// host-gateway is refused: buildx resolves it only with its docker driver
// (from Docker Engine's worker label) and refuses it with the remote and
// docker-container drivers, which talk to buildkitd as affix does.
func parseAddHosts(values []string) ([]string, error) {
	var hosts []string
	for _, h := range values {
		name, ips, ok := strings.Cut(h, "=")
		if !ok {
			name, ips, ok = strings.Cut(h, ":")
		}
		if !ok || name == "" || ips == "" || strings.ContainsAny(name, " ,=") {
			return nil, optErr("add-host %q: want HOST:IP or HOST=IP", h)
		}
		if ips == hostGateway {
			return nil, optErr("add-host %q: host-gateway is not supported: buildx resolves it only with its docker driver (Docker Engine's builder), and refuses it with the remote and docker-container drivers, which reach buildkitd as affix does; give the host's IP", h)
		}
		for ip := range strings.SplitSeq(ips, ",") {
			if len(ip) > 2 && ip[0] == '[' && ip[len(ip)-1] == ']' {
				ip = ip[1 : len(ip)-1]
			}
			if net.ParseIP(ip) == nil {
				return nil, optErr("add-host %q: %q is no IP address (want HOST:IP or HOST=IP)", h, ip)
			}
			hosts = append(hosts, name+"="+ip)
		}
	}
	return hosts, nil
}

// setSandbox parses what RUN steps run with, as buildx's flags give it:
// --add-host HOST:IP (or HOST=IP, parseAddHosts), --network default|none|host,
// --shm-size SIZE, --ulimit NAME=SOFT[:HARD] and --allow ENTITLEMENT.
// --network host allows network.host, as buildx does. Every bad value is
// an ErrInvalidOption error naming it.
func (p *plan) setSandbox(opts Options) error {
	hosts, err := parseAddHosts(opts.AddHosts)
	if err != nil {
		return err
	}
	if len(hosts) > 0 {
		p.attrs["add-hosts"] = strings.Join(hosts, ",")
	}

	switch opts.Network {
	case "", "default":
	case "none":
		p.attrs["force-network-mode"] = "none"
	case "host":
		p.attrs["force-network-mode"] = "host"
		p.entitlements = append(p.entitlements, entitlementNetworkHost)
	default:
		return optErr("network %q: want default, none or host", opts.Network)
	}

	if opts.ShmSize != "" {
		n, err := units.RAMInBytes(opts.ShmSize)
		if err != nil || n <= 0 {
			return optErr("shm-size %q: want a size such as 64m", opts.ShmSize)
		}
		p.attrs["shm-size"] = strconv.FormatInt(n, 10)
	}

	var ulimits []string
	for _, u := range opts.Ulimits {
		l, err := units.ParseUlimit(u)
		if err != nil {
			return optErr("ulimit %q: %v (want NAME=SOFT[:HARD], e.g. nofile=1024:2048)", u, err)
		}
		ulimits = append(ulimits, l.String())
	}
	if len(ulimits) > 0 {
		p.attrs["ulimit"] = strings.Join(ulimits, ",")
	}

	for _, a := range opts.Allow {
		for _, e := range strings.Split(a, ",") {
			if _, _, err := entitlements.Parse(e); err != nil {
				return optErr("allow %q: %v", a, err)
			}
			if !slices.Contains(p.entitlements, e) {
				p.entitlements = append(p.entitlements, e)
			}
		}
	}
	return nil
}

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

// setSandbox parses what RUN steps run with, as buildx's flags give it:
// --add-host HOST:IP (or HOST=IP), --network default|none|host,
// --shm-size SIZE, --ulimit NAME=SOFT[:HARD] and --allow ENTITLEMENT.
// --network host allows network.host, as buildx does. Every bad value is
// an ErrInvalidOption error naming it.
func (p *plan) setSandbox(opts Options) error {
	var hosts []string
	for _, h := range opts.AddHosts {
		name, ip, ok := strings.Cut(h, "=")
		if !ok {
			name, ip, ok = strings.Cut(h, ":")
		}
		ip = strings.TrimSuffix(strings.TrimPrefix(ip, "["), "]")
		if !ok || name == "" || strings.ContainsAny(name, " ,=") || net.ParseIP(ip) == nil {
			return optErr("add-host %q: want HOST:IP", h)
		}
		hosts = append(hosts, name+"="+ip)
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

package frontend

import (
	"context"
	"fmt"
	"net/url"

	"github.com/moby/buildkit/client"

	// Connection helpers for the address schemes grpc does not dial
	// itself (unix:// and tcp:// need none). buildctl registers the same.
	_ "github.com/moby/buildkit/client/connhelper/dockercontainer"
	_ "github.com/moby/buildkit/client/connhelper/kubepod"
	_ "github.com/moby/buildkit/client/connhelper/nerdctlcontainer"
	_ "github.com/moby/buildkit/client/connhelper/npipe"
	_ "github.com/moby/buildkit/client/connhelper/podmancontainer"
	_ "github.com/moby/buildkit/client/connhelper/ssh"
)

// connect dials n and checks, within the plan's timeout, that buildkitd
// answers, so an unreachable builder fails at once, naming its address.
func connect(ctx context.Context, n node, p *plan) (*client.Client, error) {
	var copts []client.ClientOpt
	if n.tls.enabled() {
		sn := n.tls.ServerName
		if sn == "" {
			if u, err := url.Parse(n.addr); err == nil {
				sn = u.Hostname()
			}
		}
		if n.tls.CACert != "" {
			copts = append(copts, client.WithServerConfig(sn, n.tls.CACert))
		} else {
			copts = append(copts, client.WithServerConfigSystem(sn))
		}
		if n.tls.Cert != "" {
			copts = append(copts, client.WithCredentials(n.tls.Cert, n.tls.Key))
		}
	}
	cctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	c, err := client.New(cctx, n.addr, copts...)
	if err != nil {
		return nil, fmt.Errorf("builder %s: %w: %w", n.addr, ErrUnreachable, err)
	}
	if _, err := c.Info(cctx); err != nil {
		c.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("builder %s: %w", n.addr, context.Cause(ctx))
		}
		if cctx.Err() != nil {
			return nil, fmt.Errorf("builder %s: no answer within %s: %w: %w", n.addr, p.timeout, ErrUnreachable, err)
		}
		return nil, fmt.Errorf("builder %s: %w: %w", n.addr, ErrUnreachable, err)
	}
	return c, nil
}

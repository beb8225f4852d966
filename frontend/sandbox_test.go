package frontend

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
)

func TestSetSandbox(t *testing.T) {
	for _, c := range []struct {
		name         string
		opts         Options
		attrs        map[string]string
		entitlements []string
		wantErr      string
	}{
		{name: "nothing", attrs: map[string]string{}},
		{name: "hosts in both forms, IPv6 in brackets", opts: Options{AddHosts: []string{"db:10.0.0.2", "cache=10.0.0.3", "v6:[2001:db8::33]", "v6b:2001:db8::34"}},
			attrs: map[string]string{"add-hosts": "db=10.0.0.2,cache=10.0.0.3,v6=2001:db8::33,v6b=2001:db8::34"}},
		{name: "several addresses of one host", opts: Options{AddHosts: []string{"db=10.0.0.2,[2001:db8::1]", "c:10.0.0.3"}},
			attrs: map[string]string{"add-hosts": "db=10.0.0.2,db=2001:db8::1,c=10.0.0.3"}},
		{name: "network default", opts: Options{Network: "default"}, attrs: map[string]string{}},
		{name: "network none", opts: Options{Network: "none"}, attrs: map[string]string{"force-network-mode": "none"}},
		{name: "network host asks for the entitlement", opts: Options{Network: "host", Allow: []string{"network.host"}},
			attrs: map[string]string{"force-network-mode": "host"}, entitlements: []string{"network.host"}},
		{name: "shm-size and ulimits", opts: Options{ShmSize: "64m", Ulimits: []string{"nofile=1024:2048", "nproc=512"}},
			attrs: map[string]string{"shm-size": "67108864", "ulimit": "nofile=1024:2048,nproc=512:512"}},
		{name: "allow, comma-separated and repeated", opts: Options{Allow: []string{"network.host,security.insecure", "device"}},
			attrs: map[string]string{}, entitlements: []string{"network.host", "security.insecure", "device"}},

		{name: "host without IP", opts: Options{AddHosts: []string{"db"}}, wantErr: `add-host "db"`},
		{name: "not an IP", opts: Options{AddHosts: []string{"db:example.com"}}, wantErr: `add-host "db:example.com"`},
		{name: "empty host name", opts: Options{AddHosts: []string{":10.0.0.1"}}, wantErr: `add-host ":10.0.0.1"`},
		{name: "empty IP", opts: Options{AddHosts: []string{"db="}}, wantErr: `add-host "db=": want HOST:IP or HOST=IP`},
		{name: "empty address among several", opts: Options{AddHosts: []string{"db=10.0.0.2,"}}, wantErr: `add-host "db=10.0.0.2,": "" is no IP address`},
		{name: "half a bracket", opts: Options{AddHosts: []string{"db=[2001:db8::1"}}, wantErr: `"[2001:db8::1" is no IP address`},
		{name: "host-gateway", opts: Options{AddHosts: []string{"host.docker.internal:host-gateway"}},
			wantErr: `add-host "host.docker.internal:host-gateway": host-gateway is not supported: buildx resolves it only with its docker driver`},
		{name: "host-gateway with =", opts: Options{AddHosts: []string{"gw=host-gateway"}}, wantErr: "host-gateway is not supported"},
		{name: "unknown network", opts: Options{Network: "bridge"}, wantErr: `network "bridge": want default, none or host`},
		{name: "bad size", opts: Options{ShmSize: "lots"}, wantErr: `shm-size "lots"`},
		{name: "bad ulimit", opts: Options{Ulimits: []string{"files=1"}}, wantErr: `ulimit "files=1"`},
		{name: "unknown entitlement", opts: Options{Allow: []string{"root"}}, wantErr: `allow "root"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := &plan{attrs: map[string]string{}}
			err := p.setSandbox(c.opts)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) || !errors.Is(err, ErrInvalidOption) {
					t.Fatalf("err = %v, want an ErrInvalidOption containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(p.attrs, c.attrs) || !slices.Equal(p.entitlements, c.entitlements) {
				t.Errorf("attrs %v, entitlements %v; want %v, %v", p.attrs, p.entitlements, c.attrs, c.entitlements)
			}
		})
	}
}

// Command benchpush measures `affix push` of the two-platform Standard
// fixture on every registry kind (olareg with and without the referrers
// API, distribution 2.8, distribution v3 when built): registry requests and
// wall time, beside the same image pushed without SBOMs plus one `oras
// attach` per platform, in the same run. Requests are counted by a proxy in
// front of each registry. SBOMs are generated once beforehand (affix's
// cache) so both sides publish the same documents and neither is timed
// scanning.
//
// Usage: go run ./hack/benchpush [-affix bin/affix] [-oras bin/oras]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/registrytest"
)

func main() {
	affix := flag.String("affix", "bin/affix", "affix binary")
	oras := flag.String("oras", "bin/oras", "oras binary (GOBIN=$PWD/bin go install oras.land/oras/cmd/oras@v1.3.6)")
	flag.Parse()
	if err := run(context.Background(), *affix, *oras); err != nil {
		fmt.Fprintln(os.Stderr, "benchpush:", err)
		os.Exit(1)
	}
}

type measure struct {
	requests int
	wall     time.Duration
}

func run(ctx context.Context, affix, oras string) error {
	for _, b := range []string{affix, oras} {
		if _, err := os.Stat(b); err != nil {
			return fmt.Errorf("%s: %w", b, err)
		}
	}
	tmp, err := os.MkdirTemp("", "affix-benchpush-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	os.Setenv("DOCKER_CONFIG", filepath.Join(tmp, "docker"))
	os.Setenv("AFFIX_CACHE_DIR", filepath.Join(tmp, "cache"))
	spec, err := fixture.Standard(ctx)
	if err != nil {
		return err
	}
	layout := filepath.Join(tmp, "image")
	res, err := fixture.WriteLayout(layout, spec)
	if err != nil {
		return err
	}
	plats := []string{"linux/amd64", "linux/arm64"}

	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "registry\taffix push: requests\twall\tpush --no-sbom + oras attach ×2: requests\twall")
	for _, kind := range registrytest.Kinds {
		reg, err := registrytest.Launch(ctx, kind, registrytest.Options{})
		if err != nil {
			fmt.Fprintf(w, "%s\tunavailable: %v\n", kind, err)
			continue
		}
		proxy := registrytest.NewProxy(reg.Host)
		h := proxy.Host
		// SBOM documents with the name affix push gives them, generated
		// once (and cached for affix push).
		sboms := map[string]string{}
		for _, p := range plats {
			f := filepath.Join(tmp, strings.ReplaceAll(p, "/", "-")+"-"+string(kind)+".spdx.json")
			if out, err := exec.Command(affix, "sbom", "--platform", p, "--name", h+"/affix:v1", "-o", f, "oci-layout:"+layout).CombinedOutput(); err != nil {
				return fmt.Errorf("affix sbom: %v: %s", err, out)
			}
			sboms[p] = f
		}
		count := func(f func() error) (measure, error) {
			before := len(proxy.Log())
			start := time.Now()
			err := f()
			return measure{len(proxy.Log()) - before, time.Since(start)}, err
		}
		a, err := count(func() error {
			return cmd(affix, "push", "--insecure-registry", h, "oci-layout:"+layout, h+"/affix:v1")
		})
		if err != nil {
			return err
		}
		b, err := count(func() error {
			if err := cmd(affix, "push", "--no-sbom", "--insecure-registry", h, "oci-layout:"+layout, h+"/oras:v1"); err != nil {
				return err
			}
			for i, p := range plats {
				wd := filepath.Dir(sboms[p])
				c := exec.Command(oras, "attach", "--plain-http", "--artifact-type", "application/spdx+json",
					fmt.Sprintf("%s/oras@%s", h, res.Manifests[i].Digest), filepath.Base(sboms[p])+":application/spdx+json")
				c.Dir = wd
				if out, err := c.CombinedOutput(); err != nil {
					return fmt.Errorf("oras attach: %v: %s", err, out)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%s\t%d\t%v\t%d\t%v\n", kind, a.requests, a.wall.Round(time.Millisecond), b.requests, b.wall.Round(time.Millisecond))
		proxy.Close()
		reg.Close()
	}
	w.Flush()
	fmt.Println("\nrequests counted by a proxy in front of the registry; SBOMs generated beforehand (cached), the same documents on both sides")
	return nil
}

func cmd(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

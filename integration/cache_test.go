package integration

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/affix-oci/affix/internal/registrytest"
)

// TestBuildCache: --cache-to exports BuildKit's build cache from one
// buildkitd, and --cache-from imports it into another, whose build then
// takes every RUN step from the cache; for a local directory, for a
// registry reached over plain HTTP because --insecure-registry names it,
// and inline in the image affix pushes.
// Each case builds a Dockerfile no builder has seen (a RUN step writes a
// token of its own), so a cached step can only come from the import.
func TestBuildCache(t *testing.T) {
	d0, d1 := daemon(t, 0), daemon(t, 1)
	reg := registry(t, registrytest.Distribution)
	e := newEnv(t)
	cacheDir := filepath.Join(t.TempDir(), "cache")
	for _, c := range []struct {
		name       string
		to, from   []string
		exportName string // the export's vertex
	}{
		{"local", []string{"--cache-to", "type=local,dest=" + cacheDir + ",mode=max"},
			[]string{"--cache-from", "type=local,src=" + cacheDir}, "exporting cache to client directory"},
		{"registry", []string{"--cache-to", "type=registry,ref=" + reg.Ref("buildcache:c") + ",mode=max", "--insecure-registry", reg.Host},
			[]string{"--cache-from", reg.Ref("buildcache:c"), "--insecure-registry", reg.Host}, "exporting cache to registry"},
		// Inline: the cache metadata rides in the pushed image's config,
		// and the image itself is the cache source.
		{"inline", []string{"--cache-to", "type=inline", "--push", "-t", reg.Ref("inline:v1"), "--insecure-registry", reg.Host},
			[]string{"--cache-from", reg.Ref("inline:v1"), "--insecure-registry", reg.Host}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			token := fmt.Sprintf("%s-%d", t.Name(), time.Now().UnixNano())
			writeFiles(t, dir, map[string]string{"Dockerfile": `FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "sh", "-c", "echo ` + token + ` > /token"]
RUN ["/bin/busybox", "sh", "-c", "/bin/busybox cat /token > /token.copy"]
`})
			copyBusybox(t, dir)

			build := func(addr string, extra []string) map[string]rawVertex {
				args := append([]string{"build", "--builder", addr, "--progress", "rawjson"}, extra...)
				return rawVertices(t, e.ok(t, append(args, dir)...).stderr)
			}
			first := build(d0.Addr, c.to)
			if v, ok := first[c.exportName]; c.exportName != "" && (!ok || v.Completed == nil || v.Error != "") {
				t.Errorf("first build: no completed vertex %q; vertices: %v", c.exportName, keys(first))
			}
			second := build(d1.Addr, c.from)
			runs := 0
			for name, v := range second {
				if !strings.Contains(name, "RUN") {
					continue
				}
				runs++
				if !v.Cached {
					t.Errorf("second build, on another buildkitd with %s: %q was not taken from the imported cache", strings.Join(c.from, " "), name)
				}
			}
			if runs != 2 {
				t.Errorf("second build: %d RUN vertices, want 2; vertices: %v", runs, keys(second))
			}
		})
	}
}

package cli

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/registrytest"
)

// BenchmarkMergePromote promotes an image with a 64 MiB layer and its
// SBOM from one distribution server to another (affix merge from another
// registry: every blob streamed from the source into an upload), once per
// iteration into a new repository. B/op stays far below the layer's size:
// blobs are piped, never held. Both registries run in their own
// processes, so only affix's allocations count.
func BenchmarkMergePromote(b *testing.B) {
	const size = 64 << 20
	b.Setenv("DOCKER_CONFIG", b.TempDir())
	b.Setenv("AFFIX_CACHE_DIR", b.TempDir())
	data := make([]byte, size)
	rand.NewChaCha8([32]byte{2}).Read(data)
	img := fixture.VariantsPair().Images[0]
	img.Layers = append(img.Layers, fixture.Layer{{Path: "big.bin", Data: data}})
	dir := b.TempDir()
	if _, err := fixture.WriteLayout(dir, fixture.Spec{Images: []fixture.Image{img}}); err != nil {
		b.Fatal(err)
	}
	src := registrytest.Start(b, registrytest.Distribution, registrytest.Options{})
	dst := registrytest.Start(b, registrytest.Distribution, registrytest.Options{})
	flags := []string{"--insecure-registry", src.Host, "--insecure-registry", dst.Host}
	run := func(args ...string) {
		var out, errs bytes.Buffer
		if code := Run(context.Background(), "affix", append(args[:1:1], append(flags, args[1:]...)...), &out, &errs); code != 0 {
			b.Fatalf("affix %s: exit %d\n%s", args, code, errs.String())
		}
	}
	run("push", "oci-layout:"+dir, src.Ref("staging/app")+":v1")
	i := 0
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		run("merge", dst.Ref(fmt.Sprintf("release%d/app", i))+":v1", src.Ref("staging/app")+":v1")
		i++
	}
}

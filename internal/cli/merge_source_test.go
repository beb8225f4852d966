package cli

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/registrytest"
)

// TestMergeCorruptSource: a blob whose content, read from the SOURCE's
// registry, does not match its digest fails the merge naming the SOURCE
// and the blob, not only the upload to REF's repository.
func TestMergeCorruptSource(t *testing.T) {
	if testing.Short() {
		t.Skip("runs registries")
	}
	cliEnv(t)
	dirs, _ := singleLayouts(t)
	srcReg := registrytest.Start(t, registrytest.OlaregAPI, registrytest.Options{})
	dstReg := registrytest.Start(t, registrytest.OlaregAPI, registrytest.Options{})
	proxy := registrytest.NewProxy(srcReg.Host)
	t.Cleanup(proxy.Close)
	flags := []string{"--insecure-registry", dstReg.Host, "--insecure-registry", proxy.Host}
	src := proxy.Host + "/staging/app:amd64"
	mustAffix(t, slices.Concat([]string{"push"}, flags, []string{"--sbom=false", "oci-layout:" + dirs[0], src})...)
	proxy.Inject(registrytest.Fault{Method: http.MethodGet, Path: "/blobs/", Action: registrytest.Corrupt})
	_, errs, code := affix(t, slices.Concat([]string{"merge", "--allow-no-sbom"}, flags, []string{dstReg.Ref("release/app") + ":v1", src})...)
	if code != 1 || !strings.Contains(errs, "SOURCE "+src+": reading blob sha256:") || !strings.Contains(errs, oci.ErrDigestMismatch.Error()) || !strings.Contains(errs, "tag v1 not moved") {
		t.Errorf("merge from a corrupting source: exit %d, want 1 naming the SOURCE and the blob:\n%s", code, errs)
	}
}

// TestSourceReader: a read error of a SOURCE's blob names it, and wraps
// the cause.
func TestSourceReader(t *testing.T) {
	d := digest.FromString("x")
	r := &sourceReader{ReadCloser: io.NopCloser(io.MultiReader(strings.NewReader("ab"), errReader{fmt.Errorf("blob: %w", oci.ErrDigestMismatch)})), source: "reg/app:v1", digest: d}
	_, err := io.ReadAll(r)
	if !errors.Is(err, oci.ErrDigestMismatch) || !strings.HasPrefix(err.Error(), "SOURCE reg/app:v1: reading blob "+d.String()+": ") {
		t.Errorf("error %v", err)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

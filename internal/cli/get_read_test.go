package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"

	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/registrytest"
	"github.com/affix-oci/affix/sbomgen"
)

// TestGetManifestReads counts the manifest reads of get among five SBOM
// referrers without annotations (regctl artifact put writes none): with
// the referrers API, whose list carries the manifests' annotations, only
// the one taken is read; from the referrers tag, each is read once, to
// order them, and concurrently, the one taken not again. The note on
// their missing created times names the first three.
func TestGetManifestReads(t *testing.T) {
	cliEnv(t)
	dir, res := variantsPair(t)
	amd := res.Manifests[0]
	for _, tt := range []struct {
		kind registrytest.Kind
		// reads is how many times get reads the referrer manifests,
		// each is how many times it reads each of them at most.
		reads, each int
		concurrent  bool
	}{
		{registrytest.OlaregAPI, 1, 1, false},
		{registrytest.OlaregNoAPI, 5, 1, true},
	} {
		t.Run(string(tt.kind), func(t *testing.T) {
			reg := registrytest.Start(t, tt.kind, registrytest.Options{})
			mustAffix(t, "push", "--no-sbom", "--insecure-registry", reg.Host, "oci-layout:"+dir, reg.Ref("app")+":v1")
			var refs []digest.Digest
			for i := range 5 {
				d := attachForeign(t, reg, "app", amd, foreignReferrer{artifactType: oci.MediaTypeSPDX,
					layers: []foreignLayer{{mediaType: oci.MediaTypeSPDX, data: fmt.Appendf(nil, `{"spdxVersion":"SPDX-2.3","n":%d}`, i)}}})
				refs = append(refs, d.Digest)
			}
			proxy := registrytest.StartProxy(t, reg.Host)
			proxy.Inject(registrytest.Fault{Method: "GET", Path: "/app/manifests/sha256:", Action: registrytest.Slow, Delay: 200 * time.Millisecond})
			out, errs, code := affix(t, "get", "--insecure-registry", proxy.Host, "--platform", "linux/amd64", proxy.Host+"/app:v1")
			if code != 0 || !strings.Contains(out, `"spdxVersion"`) {
				t.Fatalf("exit %d, stdout %.200q\nstderr: %s", code, out, errs)
			}
			reads := map[digest.Digest]int{}
			total := 0
			for _, e := range proxy.Log() {
				for _, d := range refs {
					if strings.HasPrefix(e, "GET ") && strings.Contains(e, "/manifests/"+d.String()) {
						reads[d]++
						total++
					}
				}
			}
			if total != tt.reads {
				t.Errorf("%d reads of the referrer manifests, want %d: %v\n%s", total, tt.reads, reads, strings.Join(proxy.Log(), "\n"))
			}
			for d, n := range reads {
				if n > tt.each {
					t.Errorf("%s read %d times, want at most %d", d, n, tt.each)
				}
			}
			if peak := proxy.PeakInFlight(); tt.concurrent && peak < 2 {
				t.Errorf("at most %d requests at once: the manifests were read one by one", peak)
			}
			if want := "5 of them (sha256:"; !strings.Contains(errs, want) || !strings.Contains(errs, " and 2 more) carry no valid") {
				t.Errorf("stderr lacks %q... and 2 more:\n%s", want, errs)
			}
		})
	}
}

// TestReadPredicate: what readPredicate, shared by statement referrers,
// BuildKit attestations and cosign's .att tag, makes of a statement
// layer: the statement when its predicate is a document of the format,
// else an error that skippable takes (the layer is skipped with a note).
func TestReadPredicate(t *testing.T) {
	subject := digest.FromString("platform manifest")
	blobs := map[digest.Digest][]byte{}
	layer := func(mt string, b []byte) ocispec.Descriptor {
		d := oci.DescriptorFor(mt, b)
		blobs[d.Digest] = b
		return d
	}
	r := memGetRun(blobs, nil)
	dsse := func(stmt []byte) []byte {
		b, _ := json.Marshal(map[string]any{"payloadType": mediaTypeDSSEPayloadInToto, "payload": base64.StdEncoding.EncodeToString(stmt)})
		return b
	}
	for _, tt := range []struct {
		name      string
		l         ocispec.Descriptor
		err       string // "" means the statement is returned
		skippable bool
	}{
		{"SPDX statement", layer(oci.MediaTypeInToto, statementOf(t, oci.PredicateSPDX, subject, noImageSPDX)), "", false},
		{"SPDX in a DSSE envelope", layer(mediaTypeDSSE, dsse(statementOf(t, oci.PredicateSPDX, subject, noImageSPDX))), "", false},
		{"another predicate", layer(oci.MediaTypeInToto, statementOf(t, "https://slsa.dev/provenance/v1", subject, `{}`)),
			`predicate type "https://slsa.dev/provenance/v1" is not https://spdx.dev/Document`, true},
		{"a DSSE envelope typed as a statement", layer(oci.MediaTypeInToto, dsse(statementOf(t, oci.PredicateSPDX, subject, noImageSPDX))),
			`predicate type "" is not`, true},
		{"not JSON", layer(oci.MediaTypeInToto, []byte("nope")), "decoding in-toto statement", true},
		{"gone", oci.DescriptorFor(oci.MediaTypeInToto, []byte("never stored")), "not found", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			stmt, err := r.readPredicate(tt.l)
			switch {
			case tt.err == "" && (err != nil || stmt.PredicateType != oci.PredicateSPDX):
				t.Fatalf("readPredicate = %+v, %v", stmt, err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Fatalf("err = %v, want %q", err, tt.err)
			case skippable(err) != tt.skippable:
				t.Errorf("skippable(%v) = %v, want %v", err, skippable(err), tt.skippable)
			}
		})
	}
}

// memGetRun is a get run of SPDX JSON that reads blobs, by digest, as its
// registry (a digest it lacks is oci.ErrBlobNotFound), calling read, when
// not nil, for each read.
func memGetRun(blobs map[digest.Digest][]byte, read func()) *getRun {
	cmd := &cobra.Command{}
	cmd.SetContext(context.Background())
	r := newGetRun(cmd, nil, "ref", nil, sbomgen.SPDXJSON)
	r.tgt = oci.FetcherFunc(func(_ context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
		if read != nil {
			read()
		}
		b, ok := blobs[d.Digest]
		if !ok {
			return nil, oci.ErrBlobNotFound
		}
		return io.NopCloser(bytes.NewReader(b)), nil
	})
	return r
}

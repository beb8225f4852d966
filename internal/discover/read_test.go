package discover

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	orasoci "oras.land/oras-go/v2/content/oci"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/registrytest"
	"github.com/affix-oci/affix/internal/sbomtest"
	"github.com/affix-oci/affix/sbomgen"
)

// TestReadPredicate: what readPredicate, shared by statement referrers,
// BuildKit attestations and cosign's .att tag, makes of a statement
// layer: the statement when its predicate is a document of the format,
// else an error that skippable takes (the layer is skipped with a note),
// a layer that is gone or broken too.
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
		b, _ := json.Marshal(map[string]any{"payloadType": MediaTypeDSSEPayloadInToto, "payload": base64.StdEncoding.EncodeToString(stmt)})
		return b
	}
	for _, tt := range []struct {
		name      string
		l         ocispec.Descriptor
		err       string // "" means the statement is returned
		skippable bool
	}{
		{"SPDX statement", layer(oci.MediaTypeInToto, sbomtest.Statement(t, oci.PredicateSPDX, subject, sbomtest.DirectorySPDX)), "", false},
		{"SPDX in a DSSE envelope", layer(MediaTypeDSSE, dsse(sbomtest.Statement(t, oci.PredicateSPDX, subject, sbomtest.DirectorySPDX))), "", false},
		{"another predicate", layer(oci.MediaTypeInToto, sbomtest.Statement(t, "https://slsa.dev/provenance/v1", subject, `{}`)),
			`predicate type "https://slsa.dev/provenance/v1" is not https://spdx.dev/Document`, true},
		{"a DSSE envelope typed as a statement", layer(oci.MediaTypeInToto, dsse(sbomtest.Statement(t, oci.PredicateSPDX, subject, sbomtest.DirectorySPDX))),
			`predicate type "" is not`, true},
		{"not JSON", layer(oci.MediaTypeInToto, []byte("nope")), "decoding in-toto statement", true},
		{"gone", oci.DescriptorFor(oci.MediaTypeInToto, []byte("never stored")), "not found", true},
		{"another size", func() ocispec.Descriptor {
			d := layer(oci.MediaTypeInToto, sbomtest.Statement(t, oci.PredicateSPDX, subject, sbomtest.DirectorySPDX))
			d.Size++
			return d
		}(), "content does not match its digest", true},
		{"too large", func() ocispec.Descriptor {
			d := layer(oci.MediaTypeInToto, sbomtest.Statement(t, oci.PredicateSPDX, subject, sbomtest.DirectorySPDX))
			d.Size = MaxSBOMSize + 1
			return d
		}(), "content too large", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			stmt, err := r.readPredicate(t.Context(), tt.l)
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
func memGetRun(blobs map[digest.Digest][]byte, read func()) *Search {
	r := NewSearch(nil, "ref", nil, sbomgen.SPDXJSON, Options{})
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

// TestReadReferrerCache: a manifest read is kept for the run only when
// the answer is definitive. A read that failed for a while (5xx, 429,
// a dropped connection or a corrupted body, after the transport's
// retries) is asked again by the next reader, which then gets the
// manifest; a 404 or 403 is kept, and not asked again.
func TestReadReferrerCache(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	reg := registrytest.Start(t, registrytest.OlaregNoAPI, registrytest.Options{})
	amd := pushVariant(t, reg, "app")
	ref := attachSPDX(t, reg, "app", amd, []byte(`{"spdxVersion":"SPDX-2.3"}`))
	path := "/manifests/" + ref.Digest.String() + "$"
	for _, tt := range []struct {
		name   string
		fault  registrytest.Fault
		cached bool
	}{
		{"503", registrytest.Fault{Action: registrytest.Unavailable}, false},
		{"500", registrytest.Fault{Action: registrytest.Status, Code: http.StatusInternalServerError}, false},
		{"429", registrytest.Fault{Action: registrytest.TooManyRequests, RetryAfter: "0"}, false},
		{"dropped connection", registrytest.Fault{Action: registrytest.Drop}, false},
		{"corrupted body", registrytest.Fault{Action: registrytest.Corrupt}, false},
		{"404", registrytest.Fault{Action: registrytest.Status, Code: http.StatusNotFound}, true},
		{"403", registrytest.Fault{Action: registrytest.Status, Code: http.StatusForbidden}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			proxy := registrytest.StartProxy(t, reg.Host)
			client := exporter.NewClient(nil, nil)
			retry := client.Client.Transport.(*exporter.Retry)
			retry.MinWait, retry.MaxWait = time.Millisecond, time.Millisecond
			remote, err := exporter.NewRemote(registry.Reference{Registry: proxy.Host, Repository: "app"}, exporter.RemoteOptions{Client: client, PlainHTTP: true})
			if err != nil {
				t.Fatal(err)
			}
			r := NewSearch(&remoteStore{Remote: remote, finder: exporter.NewFinder(remote)}, "ref", nil, sbomgen.SPDXJSON, Options{})
			reads := func() int {
				n := 0
				for _, e := range proxy.Log() {
					if strings.HasPrefix(e, "GET ") && strings.Contains(e, "/manifests/"+ref.Digest.String()) {
						n++
					}
				}
				return n
			}

			tt.fault.Method, tt.fault.Path = "GET", path
			proxy.Inject(tt.fault)
			_, first := r.readReferrer(t.Context(), ref)
			if first == nil {
				t.Fatalf("the first read succeeded through the fault")
			}
			if definitive(first) != tt.cached {
				t.Errorf("definitive(%v) = %v, want %v", first, !tt.cached, tt.cached)
			}
			// The fault is gone: only a read that asks again sees it.
			proxy.Clear()
			before := reads()
			m, err := r.readReferrer(t.Context(), ref)
			asked := reads() - before
			switch {
			case tt.cached && (asked != 0 || err == nil || err.Error() != first.Error()):
				t.Errorf("second read: %d requests, %v; want none and the first error %v", asked, err, first)
			case !tt.cached && (asked != 1 || err != nil || m == nil || m.ArtifactType != oci.MediaTypeSPDX):
				t.Errorf("second read: %d requests, %v; want one and the manifest (first: %v)", asked, err, first)
			}
			if !tt.cached {
				// Now kept: a third read asks nothing.
				before = reads()
				if _, err := r.readReferrer(t.Context(), ref); err != nil || reads() != before {
					t.Errorf("third read: %v, %d requests; want the kept manifest", err, reads()-before)
				}
			}
		})
	}
}

// TestDefinitive: which outcomes of a read get keeps for the run.
func TestDefinitive(t *testing.T) {
	status := func(code int) error {
		return fmt.Errorf("reading: %w", &exporter.ResponseError{Method: "GET", URL: "http://r/v2/a/manifests/x", StatusCode: code})
	}
	var syntax *json.SyntaxError
	jsonErr := json.Unmarshal([]byte("{"), &struct{}{})
	if !errors.As(jsonErr, &syntax) {
		t.Fatalf("json error %T", jsonErr)
	}
	for _, tt := range []struct {
		name string
		err  error
		want bool
	}{
		{"success", nil, true},
		{"404", status(http.StatusNotFound), true},
		{"401", status(http.StatusUnauthorized), true},
		{"403", status(http.StatusForbidden), true},
		{"400", status(http.StatusBadRequest), true},
		{"408", status(http.StatusRequestTimeout), false},
		{"429", status(http.StatusTooManyRequests), false},
		{"500", status(http.StatusInternalServerError), false},
		{"503", status(http.StatusServiceUnavailable), false},
		{"oras-go 502", &errcode.ErrorResponse{Method: "GET", StatusCode: http.StatusBadGateway}, false},
		{"oras-go 404", &errcode.ErrorResponse{Method: "GET", StatusCode: http.StatusNotFound}, true},
		{"missing from a layout", fmt.Errorf("x: %w", oci.ErrBlobNotFound), true},
		{"too large", fmt.Errorf("x: %w", oci.ErrTooLarge), true},
		{"no JSON", fmt.Errorf("x: %w", jsonErr), true},
		{"digest mismatch", fmt.Errorf("x: %w", oci.ErrDigestMismatch), false},
		{"connection reset", &url.Error{Op: "Get", URL: "http://r/", Err: syscall.ECONNRESET}, false},
		{"cut short", fmt.Errorf("x: %w", io.ErrUnexpectedEOF), false},
		{"canceled", fmt.Errorf("x: %w", context.Canceled), false},
		{"other", errors.New("something else"), false},
	} {
		if got := definitive(tt.err); got != tt.want {
			t.Errorf("%s: definitive(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}

// TestGetSBOMShape: what sbomShape takes for an SBOM referrer, and how it
// names what it refuses.
func TestGetSBOMShape(t *testing.T) {
	layer := func(mt string) ocispec.Descriptor { return ocispec.Descriptor{MediaType: mt} }
	for _, tt := range []struct {
		name   string
		layers []ocispec.Descriptor
		err    string // "" means usable
	}{
		{"affix's shape", []ocispec.Descriptor{layer(oci.MediaTypeSPDX)}, ""},
		{"cosign's SPDX layer type", []ocispec.Descriptor{layer("text/spdx+json")}, ""},
		{"oras attach default layer type", []ocispec.Descriptor{layer(ocispec.MediaTypeImageLayer)},
			"has 1 layer (application/vnd.oci.image.layer.v1.tar), not exactly one application/spdx+json layer"},
		{"two layers", []ocispec.Descriptor{layer(oci.MediaTypeSPDX), layer("application/octet-stream")},
			"has 2 layers (application/spdx+json, application/octet-stream), not exactly one application/spdx+json layer"},
		{"no layer", nil, "has 0 layers, not exactly one application/spdx+json layer"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := sbomShape(&ocispec.Manifest{Layers: tt.layers}, docTypes(sbomgen.SPDXJSON))
			if (tt.err == "") != (err == nil) || err != nil && err.Error() != tt.err {
				t.Errorf("sbomShape = %v, want %q", err, tt.err)
			}
		})
	}
}

// remoteStore is a Store of a registry repository, as the commands open
// one (without the root and the tag list, which these tests do not read).
type remoteStore struct {
	*exporter.Remote
	finder *exporter.Finder
}

func (s *remoteStore) Root(context.Context) (ocispec.Descriptor, error) {
	return ocispec.Descriptor{}, errors.New("no root")
}

func (s *remoteStore) Referrers(ctx context.Context, subject digest.Digest) ([]ocispec.Descriptor, exporter.Mode, error) {
	return s.finder.Referrers(ctx, subject)
}

func (s *remoteStore) Close() error { return nil }

// pushVariant pushes the linux/amd64 image of the Variants fixture (small,
// nothing compiled) to repo of reg, and returns its manifest.
func pushVariant(t *testing.T, reg *registrytest.Registry, repo string) ocispec.Descriptor {
	t.Helper()
	dir := t.TempDir()
	res, err := fixture.WriteLayout(dir, fixture.VariantsPair())
	if err != nil {
		t.Fatal(err)
	}
	src, err := orasoci.NewWithContext(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	dst := &remote.Repository{Reference: registry.Reference{Registry: reg.Host, Repository: repo}, PlainHTTP: true}
	if err := oras.CopyGraph(t.Context(), src, dst, res.Manifests[0], oras.DefaultCopyGraphOptions); err != nil {
		t.Fatal(err)
	}
	return res.Manifests[0]
}

// attachSPDX pushes an SPDX referrer of subject holding doc to repo of
// reg, as oras-go does (the referrers tag where reg has no API), and
// returns its descriptor.
func attachSPDX(t *testing.T, reg *registrytest.Registry, repo string, subject ocispec.Descriptor, doc []byte) ocispec.Descriptor {
	t.Helper()
	ctx := t.Context()
	r := &remote.Repository{Reference: registry.Reference{Registry: reg.Host, Repository: repo}, PlainHTTP: true, SkipReferrersGC: true}
	if _, err := oras.PushBytes(ctx, r, ocispec.MediaTypeEmptyJSON, ocispec.DescriptorEmptyJSON.Data); err != nil {
		t.Fatal(err)
	}
	layer, err := oras.PushBytes(ctx, r, oci.MediaTypeSPDX, doc)
	if err != nil {
		t.Fatal(err)
	}
	m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, ArtifactType: oci.MediaTypeSPDX,
		Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeEmptyJSON, Digest: ocispec.DescriptorEmptyJSON.Digest, Size: ocispec.DescriptorEmptyJSON.Size},
		Layers: []ocispec.Descriptor{layer}, Subject: &ocispec.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	d, err := oras.PushBytes(ctx, r, ocispec.MediaTypeImageManifest, b)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// annotatedReferrers stores n SBOM referrers of subject in st, each
// carrying, besides a created time, k other annotations (a registry's
// manifests of megabytes of them), one with a layer annotation kept and
// one not; it lists them as a referrers tag does (without annotations),
// and returns their entries.
func annotatedReferrers(tb testing.TB, st *memStore, subject ocispec.Descriptor, n, k int) []ocispec.Descriptor {
	tb.Helper()
	var out []ocispec.Descriptor
	for i := range n {
		ann := make(map[string]string, k+1)
		for j := range k {
			ann[fmt.Sprintf("org.example.noise.%d.%d", i, j)] = "v"
		}
		ann[ocispec.AnnotationCreated] = fmt.Sprintf("2025-01-01T00:00:%02dZ", i%60)
		doc := spdxDoc(fmt.Sprint(i))
		st.blobs[digest.FromBytes(doc)] = doc
		layer := oci.DescriptorFor(oci.MediaTypeSPDX, doc)
		layer.Annotations = map[string]string{oci.AnnotationPredicateType: oci.PredicateSPDX, "org.example.layer": "x"}
		m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, ArtifactType: oci.MediaTypeSPDX,
			Config: ocispec.DescriptorEmptyJSON, Layers: []ocispec.Descriptor{layer},
			Subject: &ocispec.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}, Annotations: ann}
		b, err := json.Marshal(m)
		if err != nil {
			tb.Fatal(err)
		}
		d := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(b), Size: int64(len(b)), ArtifactType: oci.MediaTypeSPDX}
		st.blobs[d.Digest] = b
		out = append(out, d)
	}
	st.referrers[subject.Digest] = append(st.referrers[subject.Digest], out...)
	st.mode = exporter.ModeTagSchema
	return out
}

// retainedPerReferrer returns the heap that a Search retains, after a
// GC, per referrer manifest of refs it read (readReferrer, as
// withAnnotations and bareCandidate read them).
func retainedPerReferrer(tb testing.TB, r *Search, refs []ocispec.Descriptor) float64 {
	tb.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, d := range refs {
		if _, err := r.readReferrer(context.Background(), d); err != nil {
			tb.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(r)
	return max(float64(after.HeapAlloc)-float64(before.HeapAlloc), 0) / float64(len(refs))
}

// TestReadReferrerKeeps: what get keeps of a referrer manifest it read is
// its subject, layers and config and the few annotations it reads, not
// the manifest's other annotations: 8 manifests of 30,000 annotations
// (about 1 MiB of JSON each, several MB decoded) leave a few KiB each on
// the heap, where they left all of it.
func TestReadReferrerKeeps(t *testing.T) {
	st, img := newMemStore(t)
	refs := annotatedReferrers(t, st, img.Descriptor, 8, 30000)
	r := NewSearch(st, "ref", []oci.Image{img}, sbomgen.SPDXJSON, Options{})
	const bound = 64 << 10
	if got := retainedPerReferrer(t, r, refs); got > bound {
		t.Errorf("%.0f bytes retained per referrer manifest read, want at most %d", got, bound)
	}
	m, err := r.readReferrer(t.Context(), refs[1])
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{ocispec.AnnotationCreated: "2025-01-01T00:00:01Z"}; !maps.Equal(m.Annotations, want) {
		t.Errorf("%d annotations kept, want %v", len(m.Annotations), want)
	}
	if m.Subject == nil || m.Subject.Digest != img.Descriptor.Digest || m.Subject.Size != img.Descriptor.Size || m.ArtifactType != oci.MediaTypeSPDX || m.Config.Digest != ocispec.DescriptorEmptyJSON.Digest {
		t.Errorf("kept subject %v, artifact type %q, config %v", m.Subject, m.ArtifactType, m.Config)
	}
	if len(m.Layers) != 1 || m.Layers[0].MediaType != oci.MediaTypeSPDX || !maps.Equal(m.Layers[0].Annotations, map[string]string{oci.AnnotationPredicateType: oci.PredicateSPDX}) {
		t.Errorf("kept layers %+v", m.Layers)
	}
	// What get does with them is unchanged: the newest taken, its
	// annotations those read.
	src, err := r.PlatformSBOM(t.Context(), img)
	if err != nil || src.Manifest.Digest != refs[7].Digest || src.Annotations[ocispec.AnnotationCreated] != "2025-01-01T00:00:07Z" {
		t.Errorf("PlatformSBOM = %+v, %v; want %s", src, err, refs[7].Digest)
	}
}

// BenchmarkReadReferrerRetained reports the heap a get run retains per
// referrer manifest it read (retained-B/manifest), for manifests of
// 30,000 annotations: those are not kept.
func BenchmarkReadReferrerRetained(b *testing.B) {
	st, img := newMemStore(b)
	refs := annotatedReferrers(b, st, img.Descriptor, 8, 30000)
	var sum float64
	for b.Loop() {
		r := NewSearch(st, "ref", []oci.Image{img}, sbomgen.SPDXJSON, Options{})
		sum += retainedPerReferrer(b, r, refs)
	}
	b.ReportMetric(sum/float64(b.N), "retained-B/manifest")
}

// TestKeep: keep keeps the annotations get reads, those of a sane
// length, and cuts a string longer than maxKept to a copy of its start.
func TestKeep(t *testing.T) {
	long := strings.Repeat("x", maxKept+1)
	m := keep(&ocispec.Manifest{MediaType: long, Annotations: map[string]string{
		ocispec.AnnotationCreated: long, oci.AnnotationGenerator: "affix-1", AnnotationBundlePredicateType: oci.PredicateSPDX, "other": "x"}})
	if want := map[string]string{oci.AnnotationGenerator: "affix-1", AnnotationBundlePredicateType: oci.PredicateSPDX}; !maps.Equal(m.Annotations, want) {
		t.Errorf("annotations kept %v, want %v", m.Annotations, want)
	}
	if want := long[:maxKept] + "..."; m.MediaType != want {
		t.Errorf("media type kept %d bytes, want %d", len(m.MediaType), len(want))
	}
	if m.Subject != nil || m.Layers != nil {
		t.Errorf("kept subject %v, layers %v of a manifest without them", m.Subject, m.Layers)
	}
}

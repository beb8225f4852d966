package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/affix-oci/affix/exporter"
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

// TestReadReferrerCache: a manifest read is kept for the run only when
// the answer is definitive. A read that failed for a while (5xx, 429,
// a dropped connection or a corrupted body, after the transport's
// retries) is asked again by the next reader, which then gets the
// manifest; a 404 or 403 is kept, and not asked again.
func TestReadReferrerCache(t *testing.T) {
	cliEnv(t)
	dir, res := variantsPair(t)
	reg := registrytest.Start(t, registrytest.OlaregNoAPI, registrytest.Options{})
	mustAffix(t, "push", "--no-sbom", "--insecure-registry", reg.Host, "oci-layout:"+dir, reg.Ref("app")+":v1")
	ref := attachForeign(t, reg, "app", res.Manifests[0], foreignReferrer{artifactType: oci.MediaTypeSPDX,
		layers: []foreignLayer{{mediaType: oci.MediaTypeSPDX, data: []byte(`{"spdxVersion":"SPDX-2.3"}`)}}})
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
			cmd := &cobra.Command{}
			cmd.SetContext(t.Context())
			r := newGetRun(cmd, &registryStore{Remote: remote, finder: exporter.NewFinder(remote)}, "ref", nil, sbomgen.SPDXJSON)
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
			_, first := r.readReferrer(ref)
			if first == nil {
				t.Fatalf("the first read succeeded through the fault")
			}
			if definitive(first) != tt.cached {
				t.Errorf("definitive(%v) = %v, want %v", first, !tt.cached, tt.cached)
			}
			// The fault is gone: only a read that asks again sees it.
			proxy.Clear()
			before := reads()
			m, err := r.readReferrer(ref)
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
				if _, err := r.readReferrer(ref); err != nil || reads() != before {
					t.Errorf("third read: %v, %d requests; want the kept manifest", err, reads()-before)
				}
			}
		})
	}
}

// TestGetAfterTransientFailure: an SBOM referrer whose manifest read
// fails for a while (429 on every attempt of the transport) while get
// orders the referrers-tag entries is read again when taken: the failure
// is not kept for the run.
func TestGetAfterTransientFailure(t *testing.T) {
	cliEnv(t)
	dir, res := variantsPair(t)
	reg := registrytest.Start(t, registrytest.OlaregNoAPI, registrytest.Options{})
	mustAffix(t, "push", "--no-sbom", "--insecure-registry", reg.Host, "oci-layout:"+dir, reg.Ref("app")+":v1")
	doc := `{"spdxVersion":"SPDX-2.3","n":1}`
	// No created annotation: get reads the manifest to order the
	// entries (withAnnotations), then again to take it.
	ref := attachForeign(t, reg, "app", res.Manifests[0], foreignReferrer{artifactType: oci.MediaTypeSPDX,
		layers: []foreignLayer{{mediaType: oci.MediaTypeSPDX, data: []byte(doc)}}})
	proxy := registrytest.StartProxy(t, reg.Host)
	// Five: every attempt of the transport's first read.
	proxy.Inject(registrytest.Fault{Method: "GET", Path: "/manifests/" + ref.Digest.String() + "$", Action: registrytest.TooManyRequests, RetryAfter: "0", Times: 5})
	out, errs, code := affix(t, "get", "--insecure-registry", proxy.Host, "--platform", "linux/amd64", proxy.Host+"/app:v1")
	if code != 0 || out != doc {
		t.Fatalf("exit %d, stdout %.200q; want 0 and the document\nstderr: %s\n%s", code, out, errs, strings.Join(proxy.Log(), "\n"))
	}
	if n := proxy.Injected(); n != 5 {
		t.Errorf("%d faults injected, want 5 (the first read's attempts)", n)
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

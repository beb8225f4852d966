package exporter_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/registrytest"
)

// wantCounts are the exact requests of a first push and of a rerun of the
// two-platform fixture (4 image blobs + 4 attestation blobs, 2 platform and
// 2 attestation manifests) with one SBOM per platform.
//
// The root index by digest: one HEAD (404). Per blob: HEAD (404), POST,
// PUT. Per manifest: one PUT. SBOMs: the empty config and two documents as
// blobs, two referrer manifests. Without the referrers API, per SBOM: GET
// the referrers tag (404), PUT it, and two verify GETs. The index by tag:
// one PUT. A rerun: the root's HEAD finds it, and one HEAD per manifest
// it lists (4) finds each, so no image blob is checked and no manifest
// written; one HEAD per SBOM blob (present), the referrers and the tag
// again, and without the API one GET per referrers tag (entry present:
// nothing written).
var wantCounts = map[bool]struct{ first, rerun map[string]int }{
	true: { // referrers API
		first: map[string]int{"HEAD": 1 + 11, "POST": 11, "PUT": 18},
		rerun: map[string]int{"HEAD": 1 + 4 + 3, "PUT": 2 + 1},
	},
	false: { // referrers tag schema
		first: map[string]int{"HEAD": 1 + 11, "POST": 11, "PUT": 20, "GET": 6},
		rerun: map[string]int{"HEAD": 1 + 4 + 3, "PUT": 2 + 1, "GET": 2},
	},
}

func TestPushRegistries(t *testing.T) {
	ctx := context.Background()
	for _, reg := range startAll(t) {
		t.Run(string(reg.Kind), func(t *testing.T) {
			l, res := source(t, twoPlatforms(true))
			c, counter := client(nil)
			tgt := target(t, reg.Host, "app", c)
			got, err := pushAll(ctx, tgt, l, res, exporter.Options{Tag: "v1"})
			if err != nil {
				t.Fatal(err)
			}
			want := wantCounts[reg.Referrers]
			if g := countsString(counter.Counts()); g != countsString(want.first) {
				t.Errorf("first push requests: %s, want %s\n%s", g, countsString(want.first), strings.Join(counter.Log(), "\n"))
			}
			mode := exporter.ModeTagSchema
			if reg.Referrers {
				mode = exporter.ModeAPI
			}
			if got.Modes[tgt.Name()] != mode {
				t.Errorf("mode %v, want %s", got.Modes, mode)
			}
			if got.Root.Digest != res.Index.Digest || resolve(t, reg.Host, "app", "v1") != res.Index.Digest {
				t.Errorf("pushed index %s, want the source index %s", got.Root.Digest, res.Index.Digest)
			}
			if len(got.Images) != 2 || len(got.Attestations) != 2 || len(got.Referrers) != 2 {
				t.Errorf("result: %d images, %d attestations, %d referrers", len(got.Images), len(got.Attestations), len(got.Referrers))
			}
			checkInterop(t, reg, "app", res.Manifests)

			// A rerun changes nothing and adds no referrer.
			counter.Reset()
			again, err := pushAll(ctx, target(t, reg.Host, "app", c), l, res, exporter.Options{Tag: "v1"})
			if err != nil {
				t.Fatal(err)
			}
			if g := countsString(counter.Counts()); g != countsString(want.rerun) {
				t.Errorf("rerun requests: %s, want %s\n%s", g, countsString(want.rerun), strings.Join(counter.Log(), "\n"))
			}
			// The 8 image blobs count as found through the root, the
			// SBOMs' 3 by their HEAD.
			if b := again.Blobs; b.Existing != 8+3 || b.Uploaded+b.Mounted != 0 {
				t.Errorf("rerun blobs %+v, want 11 existing", b)
			}
			for i := range again.Referrers {
				if again.Referrers[i].Descriptor.Digest != got.Referrers[i].Descriptor.Digest && again.Referrers[i].Subject == got.Referrers[i].Subject {
					t.Errorf("rerun referrer digest changed")
				}
			}
			checkInterop(t, reg, "app", res.Manifests)
		})
	}
}

// checkInterop reads the referrers back with oras-go: every platform
// manifest has exactly one SPDX referrer, whose single layer is the SBOM.
func checkInterop(t *testing.T, reg *registrytest.Registry, repo string, manifests []ocispec.Descriptor) {
	t.Helper()
	ctx := context.Background()
	r := &remote.Repository{Reference: registry.Reference{Registry: reg.Host, Repository: repo}, PlainHTTP: true}
	for _, m := range manifests {
		var refs []ocispec.Descriptor
		err := r.Referrers(ctx, ocispec.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: m.Size}, oci.MediaTypeSPDX, func(rs []ocispec.Descriptor) error {
			refs = append(refs, rs...)
			return nil
		})
		if err != nil {
			t.Fatalf("oras referrers of %s: %v", m.Digest, err)
		}
		if len(refs) != 1 {
			t.Fatalf("oras finds %d SPDX referrers of %s, want 1: %v", len(refs), m.Digest, refs)
		}
		if refs[0].Annotations[ocispec.AnnotationCreated] == "" || refs[0].Annotations[oci.AnnotationPlatform] != oci.FormatPlatform(*m.Platform) {
			t.Errorf("referrer descriptor annotations %v", refs[0].Annotations)
		}
		b, err := content.FetchAll(ctx, r, refs[0])
		if err != nil {
			t.Fatal(err)
		}
		var man ocispec.Manifest
		if err := json.Unmarshal(b, &man); err != nil {
			t.Fatal(err)
		}
		if man.ArtifactType != oci.MediaTypeSPDX || len(man.Layers) != 1 || man.Layers[0].MediaType != oci.MediaTypeSPDX ||
			man.Config.MediaType != ocispec.MediaTypeEmptyJSON || man.Subject == nil || man.Subject.Digest != m.Digest {
			t.Fatalf("referrer manifest %s", b)
		}
		doc, err := content.FetchAll(ctx, r, man.Layers[0])
		if err != nil {
			t.Fatal(err)
		}
		if string(doc) != string(fakeSBOM(m, "spdx")) {
			t.Errorf("SBOM of %s: %s", m.Digest, doc)
		}
	}
}

func TestStripAttestations(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.Start(t, registrytest.OlaregAPI, registrytest.Options{})
	l, res := source(t, twoPlatforms(true))
	c, _ := client(nil)
	tgt := target(t, reg.Host, "app", c)
	got, err := pushAll(ctx, tgt, l, res, exporter.Options{Tag: "v1", StripAttestations: true})
	if err != nil {
		t.Fatal(err)
	}
	if got.Root.Digest == res.Index.Digest || len(got.Stripped) != 2 || len(got.Attestations) != 0 {
		t.Fatalf("stripped push: root %s (source %s), %d stripped", got.Root.Digest, res.Index.Digest, len(got.Stripped))
	}
	if d := resolve(t, reg.Host, "app", "v1"); d != got.Root.Digest {
		t.Fatalf("tag names %s, want %s", d, got.Root.Digest)
	}
	_, b, _, err := tgt.FetchManifest(ctx, "v1")
	if err != nil {
		t.Fatal(err)
	}
	var idx ocispec.Index
	json.Unmarshal(b, &idx)
	if len(idx.Manifests) != 2 {
		t.Fatalf("pushed index lists %d manifests", len(idx.Manifests))
	}
	for _, a := range res.Attestations {
		if ok, _ := tgt.Exists(ctx, ocispec.Descriptor{Digest: a.Digest}); ok {
			t.Errorf("attestation %s pushed", a.Digest)
		}
	}
}

// TestRerunRestoresManifest reruns a push after a platform manifest the
// index lists was deleted (a clean-up of untagged manifests does that;
// some registries also take an index without its manifests): the rerun
// finds the index, asks for each manifest it lists, and pushes the one
// missing whole (its blobs checked, the manifest put), not the others.
func TestRerunRestoresManifest(t *testing.T) {
	for _, kind := range []registrytest.Kind{registrytest.OlaregAPI, registrytest.Distribution} {
		t.Run(string(kind), func(t *testing.T) {
			ctx := t.Context()
			reg := registrytest.Start(t, kind, registrytest.Options{Delete: true})
			l, res := source(t, twoPlatforms(true))
			c, counter := client(nil)
			if _, err := pushAll(ctx, target(t, reg.Host, "app", c), l, res, exporter.Options{Tag: "v1"}); err != nil {
				t.Fatal(err)
			}
			gone, kept := res.Manifests[0].Digest, res.Manifests[1].Digest
			deleteManifest(t, reg.Host, "app", gone)
			counter.Reset()
			got, err := pushAll(ctx, target(t, reg.Host, "app", c), l, res, exporter.Options{Tag: "v1"})
			if err != nil {
				t.Fatal(err)
			}
			if d := resolve(t, reg.Host, "app", gone.String()); d != gone {
				t.Fatalf("the deleted manifest %s is still missing after the rerun", gone)
			}
			log := strings.Join(counter.Log(), "\n")
			if !strings.Contains(log, "PUT /v2/app/manifests/"+gone.String()) || strings.Contains(log, "PUT /v2/app/manifests/"+kept.String()) {
				t.Errorf("want the deleted manifest put again, and only it:\n%s", log)
			}
			// The deleted manifest's config and layer are checked; the
			// other 6 image blobs count as found through their manifests.
			if b := got.Blobs; b.Existing != 6+2+3 || b.Uploaded != 0 {
				t.Errorf("blobs %+v, want 11 existing, none uploaded\n%s", b, log)
			}
			checkInterop(t, reg, "app", res.Manifests)
		})
	}
}

// TestRootHeadRefused pushes to a registry that refuses the HEAD of the
// root index, as a push-only credential or a registry without HEAD on
// manifests does, or answers it 5xx for good, as distribution 2.8 does
// for a manifest whose record a full disk broke: the push goes on and
// checks every blob itself (and its PUT of the index mends the record),
// while a 429 that outlasts the retries ends it with the tag unmoved.
func TestRootHeadRefused(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fault    registrytest.Fault
		failed   bool
		injected int // faults injected when the push goes on
	}{
		{"403", registrytest.Fault{Method: "HEAD", Path: "/manifests/sha256:", Action: registrytest.Status, Code: http.StatusForbidden}, false, 1},
		{"405", registrytest.Fault{Method: "HEAD", Path: "/manifests/sha256:", Action: registrytest.Status, Code: http.StatusMethodNotAllowed}, false, 1},
		{"401", registrytest.Fault{Method: "HEAD", Path: "/manifests/sha256:", Action: registrytest.Status, Code: http.StatusUnauthorized}, false, 1},
		{"500 for good", registrytest.Fault{Method: "HEAD", Path: "/manifests/sha256:", Action: registrytest.Status, Code: http.StatusInternalServerError}, false, 5},
		{"429 for good", registrytest.Fault{Method: "HEAD", Path: "/manifests/sha256:", Action: registrytest.TooManyRequests, RetryAfter: "0"}, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.failed && testing.Short() {
				t.Skip("waits out real retry backoff")
			}
			sc := newFaultScene(t, registrytest.OlaregAPI, false)
			c, counter := client(nil)
			sc.proxy.Inject(tc.fault)
			got, tag, err := sc.push(t, c)
			if tc.failed {
				if err == nil || tag != sc.oldRes.Index.Digest {
					t.Fatalf("push: %v, tag %s; want an error and the old tag", err, tag)
				}
				sc.rerun(t, c)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tag != got.Root.Digest || sc.proxy.Injected() != tc.injected {
				t.Errorf("tag %s (want %s), %d faults injected (want %d)", tag, got.Root.Digest, sc.proxy.Injected(), tc.injected)
			}
			// The refused HEAD, then one per blob: 4 image, 3 SBOM.
			if n := counter.Counts()[http.MethodHead]; n < 1+4+3 {
				t.Errorf("HEAD %d, want every blob checked: %s", n, strings.Join(counter.Log(), "\n"))
			}
			checkInterop(t, sc.reg, "app", sc.res.Manifests)
		})
	}
}

// TestFailureLeavesTag injects faults at every step: each push either
// completes or fails with the tag where it was, and a clean rerun
// completes.
func TestFailureLeavesTag(t *testing.T) {
	if testing.Short() {
		t.Skip("fault injection waits out real retry backoff")
	}
	type step struct {
		name      string
		fault     registrytest.Fault
		tagSchema bool // only registries without the referrers API see it
	}
	steps := []step{
		{"503 on blob HEAD", registrytest.Fault{Method: "HEAD", Path: "/blobs/", Action: registrytest.Unavailable, Times: 2}, false},
		{"503 forever on blob upload", registrytest.Fault{Method: "POST", Path: "/blobs/uploads/", Action: registrytest.Unavailable}, false},
		{"429 on blob upload", registrytest.Fault{Method: "PUT", Path: "/blobs/uploads/", Action: registrytest.TooManyRequests, Times: 2, RetryAfter: "1"}, false},
		{"dropped blob upload", registrytest.Fault{Method: "PUT", Path: "/blobs/uploads/", Action: registrytest.Drop, Times: 3}, false},
		{"dropped manifest PUT", registrytest.Fault{Method: "PUT", Path: "/manifests/sha256:", Action: registrytest.Drop, Times: 2}, false},
		{"503 forever on platform manifests", registrytest.Fault{Method: "PUT", Path: "/manifests/sha256:", Action: registrytest.Unavailable}, false},
		{"referrer manifest rejected", registrytest.Fault{Action: registrytest.RejectSubject}, false},
		{"corrupt referrers index read", registrytest.Fault{Method: "GET", Path: "/manifests/sha256-", Action: registrytest.Corrupt, Times: 1}, true},
		{"corrupt referrers index reads forever", registrytest.Fault{Method: "GET", Path: "/manifests/sha256-", Action: registrytest.Corrupt}, true},
		{"503 forever on referrers tag write", registrytest.Fault{Method: "PUT", Path: "/manifests/sha256-", Action: registrytest.Unavailable}, true},
		{"dropped referrers tag write", registrytest.Fault{Method: "PUT", Path: "/manifests/sha256-", Action: registrytest.Drop, Times: 1}, true},
		{"503 forever on the tag", registrytest.Fault{Method: "PUT", Path: "/manifests/v1$", Action: registrytest.Unavailable}, false},
	}
	for _, kind := range []registrytest.Kind{registrytest.OlaregAPI, registrytest.OlaregNoAPI, registrytest.Distribution} {
		for _, s := range steps {
			if s.tagSchema && kind == registrytest.OlaregAPI {
				continue
			}
			t.Run(string(kind)+"/"+s.name, func(t *testing.T) {
				// Each case has its own registry and proxy, and spends
				// its time in retry backoff: run them side by side
				// (make test raises -parallel).
				t.Parallel()
				// An earlier push of another image holds the tag.
				sc := newFaultScene(t, kind, true)
				c, _ := client(nil)
				sc.proxy.Inject(s.fault)
				got, tag, err := sc.push(t, c)
				if err != nil {
					t.Logf("push failed (%d faults injected): %v", sc.proxy.Injected(), err)
					if tag != sc.oldRes.Index.Digest {
						t.Fatalf("failed push moved the tag to %s", tag)
					}
					if s.fault.Action == registrytest.RejectSubject && !errors.Is(err, exporter.ErrSubjectRejected) {
						t.Errorf("err = %v, want ErrSubjectRejected", err)
					}
				} else {
					t.Logf("push completed despite %d faults", sc.proxy.Injected())
					if tag != got.Root.Digest {
						t.Fatalf("tag %s, want %s", tag, got.Root.Digest)
					}
				}
				sc.rerun(t, c)
				checkInterop(t, sc.reg, "app", sc.res.Manifests)
			})
		}
	}
}

func TestReferrersTagConflict(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.Start(t, registrytest.OlaregNoAPI, registrytest.Options{})
	l, res := source(t, twoPlatforms(false))
	c, _ := client(nil)
	tgt := target(t, reg.Host, "app", c)
	p := exporter.New(tgt, &exporter.Image{Source: l, Root: res.Index}, exporter.Options{Tag: "v1"})
	if err := p.Images(ctx); err != nil {
		t.Fatal(err)
	}
	// As GitLab does: the referrers tag resolves to the subject itself.
	m := res.Manifests[0]
	b, _ := oci.ReadBlob(ctx, l, m, 0)
	if _, err := tgt.PushManifest(ctx, ocispec.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: m.Size}, b, exporter.ReferrersTag(m.Digest), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Attach(ctx, sbomArtifact(m)); !errors.Is(err, exporter.ErrReferrersTagConflict) {
		t.Fatalf("err = %v, want ErrReferrersTagConflict", err)
	}
	if d := resolve(t, reg.Host, "app", exporter.ReferrersTag(m.Digest)); d != m.Digest {
		t.Fatalf("referrers tag overwritten: %s", d)
	}
	if d := resolve(t, reg.Host, "app", "v1"); d != "" {
		t.Fatalf("tag written: %s", d)
	}
}

// TestConcurrentAttach runs 8 pushes in one process, each with its own
// client, attaching different artifacts to one subject at the same time.
// (internal/cli runs the same with 8 processes.)
func TestConcurrentAttach(t *testing.T) {
	ctx := context.Background()
	for _, kind := range []registrytest.Kind{registrytest.OlaregNoAPI, registrytest.Distribution} {
		t.Run(string(kind), func(t *testing.T) {
			reg := registrytest.Start(t, kind, registrytest.Options{})
			l, res := source(t, twoPlatforms(false))
			c, _ := client(nil)
			if _, err := exporter.New(target(t, reg.Host, "app", c), &exporter.Image{Source: l, Root: res.Index}, exporter.Options{Tag: "v1"}).Commit(ctx); err != nil {
				t.Fatal(err)
			}
			subject := res.Manifests[0]
			var wg sync.WaitGroup
			errs := make([]error, 8)
			for i := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c, _ := client(nil)
					// distribution ignores If-Match: the verification window
					// is all that guards an entry, so make it wider than a
					// loaded CI machine's stalls.
					p := exporter.New(target(t, reg.Host, "app", c), nil, exporter.Options{VerifyDelay: 500 * time.Millisecond})
					a := exporter.Artifact{Subject: subject, ArtifactType: "application/vnd.affix.test", Blobs: []exporter.Blob{{Data: fmt.Appendf(nil, "artifact %d", i)}}}
					if _, err := p.Attach(ctx, a); err != nil {
						errs[i] = err
						return
					}
					_, errs[i] = p.Commit(ctx)
				}()
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("writer %d: %v", i, err)
				}
			}
			idx, err := exporter.ReadReferrersIndex(ctx, target(t, reg.Host, "app", c), subject.Digest)
			if err != nil {
				t.Fatal(err)
			}
			if len(idx.Manifests) != 8 {
				t.Fatalf("referrers index lists %d entries, want 8", len(idx.Manifests))
			}
		})
	}
}

func TestWrongCredentials(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.Start(t, registrytest.Distribution, registrytest.Options{Auth: true})
	l, res := source(t, twoPlatforms(false))
	for _, tc := range []struct {
		name     string
		user, pw string
		ok       bool
	}{
		{"anonymous", "", "", false},
		{"wrong password", reg.Username, "nope", false},
		{"right", reg.Username, reg.Password, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cred func(context.Context, string) (authCred, error)
			_ = cred
			c, _ := client(staticCred(reg.Host, tc.user, tc.pw))
			_, err := pushAll(ctx, target(t, reg.Host, "app", c), l, res, exporter.Options{Tag: "v1"})
			if tc.ok != (err == nil) {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if !tc.ok && !errors.Is(err, exporter.ErrUnauthorized) {
				t.Errorf("err = %v, want ErrUnauthorized", err)
			}
		})
	}
}

func TestUnreachable(t *testing.T) {
	host := registrytest.ClosedHost(t)
	l, res := source(t, twoPlatforms(false))
	c, _ := client(nil)
	_, err := pushAll(context.Background(), target(t, host, "app", c), l, res, exporter.Options{Tag: "v1"})
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("err = %v, want connection refused", err)
	}
}

// TestPushLoopbackPlainHTTP pushes to plain-HTTP registries on this
// machine with PlainHTTP from PlainLoopback, as a command does when no
// flag names the host: the push makes the requests it makes with
// PlainHTTP set by hand.
func TestPushLoopbackPlainHTTP(t *testing.T) {
	ctx := context.Background()
	for _, reg := range startAll(t) {
		_, port, _ := strings.Cut(reg.Host, ":")
		for i, host := range []string{reg.Host, "localhost:" + port} {
			repo := fmt.Sprintf("loopback%d", i) // the same registry: each push a first one
			t.Run(string(reg.Kind)+"/"+host, func(t *testing.T) {
				l, res := source(t, twoPlatforms(true))
				c, counter := client(nil)
				tgt, err := exporter.NewRemote(registry.Reference{Registry: host, Repository: repo}, exporter.RemoteOptions{Client: c, PlainHTTP: exporter.PlainLoopback(ctx, host)})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := pushAll(ctx, tgt, l, res, exporter.Options{Tag: "v1"}); err != nil {
					t.Fatal(err)
				}
				want := wantCounts[reg.Referrers]
				if g := countsString(counter.Counts()); g != countsString(want.first) {
					t.Errorf("requests: %s, want %s\n%s", g, countsString(want.first), strings.Join(counter.Log(), "\n"))
				}
				checkInterop(t, reg, repo, res.Manifests)
			})
		}
	}
}

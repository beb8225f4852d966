package exporter_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content/memory"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/registrytest"
)

// pushImages starts a push of img to tgt (tag v1) and pushes its blobs
// and platform manifests, so that referrers can be attached; the caller
// defers Abort.
func pushImages(t *testing.T, tgt *memTarget, img *exporter.Image) *exporter.Push {
	t.Helper()
	p := exporter.New(tgt, img, exporter.Options{Tag: "v1"})
	if err := p.Images(t.Context()); err != nil {
		p.Abort()
		t.Fatal(err)
	}
	return p
}

// memImage is an index of two single-layer platform manifests in memory,
// for a push to a memTarget in a synctest bubble.
func memImage(t *testing.T) (*exporter.Image, []ocispec.Descriptor) {
	t.Helper()
	ctx := context.Background()
	store := memory.New()
	put := func(mediaType string, b []byte) ocispec.Descriptor {
		d := oci.DescriptorFor(mediaType, b)
		if err := store.Push(ctx, d, bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
		return d
	}
	marshal := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var manifests []ocispec.Descriptor
	for _, arch := range []string{"amd64", "arm64"} {
		cfg := put(ocispec.MediaTypeImageConfig, fmt.Appendf(nil, `{"architecture":%q,"os":"linux"}`, arch))
		layer := put(ocispec.MediaTypeImageLayer, []byte("layer "+arch))
		m := put(ocispec.MediaTypeImageManifest, marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2},
			MediaType: ocispec.MediaTypeImageManifest, Config: cfg, Layers: []ocispec.Descriptor{layer}}))
		m.Platform = &ocispec.Platform{OS: "linux", Architecture: arch}
		manifests = append(manifests, m)
	}
	root := put(ocispec.MediaTypeImageIndex, marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex, Manifests: manifests}))
	return &exporter.Image{Source: store, Root: root}, manifests
}

// note is the i-th referrer of subject in the tests below.
func note(subject ocispec.Descriptor, i int) exporter.Artifact {
	return exporter.Artifact{Subject: subject, ArtifactType: "application/vnd.example.note",
		Blobs: []exporter.Blob{{Data: fmt.Appendf(nil, "note %d of %s", i, subject.Digest)}}}
}

// listed returns the digests the referrers index of subject on tgt lists.
func listed(t *testing.T, tgt exporter.Target, subject digest.Digest) []digest.Digest {
	t.Helper()
	idx, err := exporter.ReadReferrersIndex(context.Background(), tgt, subject)
	if err != nil {
		t.Fatal(err)
	}
	var out []digest.Digest
	for _, m := range idx.Manifests {
		out = append(out, m.Digest)
	}
	return out
}

// TestOneRoundPerSubject: without the referrers API, k referrers of one
// subject attached together (AttachAll, or Attach calls under way at the
// same time) cost one read-merge-write of its referrers tag (one GET, one
// PUT) and one verification (two GETs), whatever k: 3 GETs and 1 PUT per
// subject, where one round per referrer cost 3k GETs and k PUTs. Attach
// calls one after another still write one round each, but share the
// verification under way: k+2 GETs, k PUTs. Every entry is listed once.
func TestOneRoundPerSubject(t *testing.T) {
	for _, k := range []int{1, 2, 3} {
		for _, tc := range []struct {
			name              string
			attach            func(t *testing.T, p *exporter.Push, arts []exporter.Artifact)
			wantGET, wantPUT  int
			attachBeforeImage bool
		}{
			{"AttachAll", func(t *testing.T, p *exporter.Push, arts []exporter.Artifact) {
				descs, err := p.AttachAll(t.Context(), arts)
				if err != nil {
					t.Fatal(err)
				}
				for i, d := range descs {
					if d.Digest == "" || d.ArtifactType != arts[i].ArtifactType {
						t.Errorf("descriptor %d: %+v", i, d)
					}
				}
			}, 3, 1, false},
			{"concurrent Attach", func(t *testing.T, p *exporter.Push, arts []exporter.Artifact) {
				var wg sync.WaitGroup
				for _, a := range arts {
					wg.Go(func() {
						if _, err := p.Attach(t.Context(), a); err != nil {
							t.Error(err)
						}
					})
				}
				// Every call is under way (waiting for the image) before
				// any manifest is written.
				synctest.Wait()
				if err := p.Images(t.Context()); err != nil {
					t.Fatal(err)
				}
				wg.Wait()
			}, 3, 1, true},
			{"Attach one after another", func(t *testing.T, p *exporter.Push, arts []exporter.Artifact) {
				for _, a := range arts {
					if _, err := p.Attach(t.Context(), a); err != nil {
						t.Fatal(err)
					}
				}
			}, k + 2, k, false},
		} {
			t.Run(fmt.Sprintf("%s/%d", tc.name, k), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					img, subjects := memImage(t)
					tgt := newMemTarget()
					tgt.noAPI = true
					p := exporter.New(tgt, img, exporter.Options{Tag: "v1"})
					defer p.Abort()
					if !tc.attachBeforeImage {
						if err := p.Images(t.Context()); err != nil {
							t.Fatal(err)
						}
					}
					var arts []exporter.Artifact
					for _, s := range subjects {
						for i := range k {
							arts = append(arts, note(s, i))
						}
					}
					tc.attach(t, p, arts)
					res, err := p.Commit(t.Context())
					if err != nil {
						t.Fatal(err)
					}
					if len(res.Referrers) != len(arts) || res.Modes["mem"] != exporter.ModeTagSchema {
						t.Errorf("result: %d referrers, modes %v", len(res.Referrers), res.Modes)
					}
					for _, s := range subjects {
						tag := exporter.ReferrersTag(s.Digest)
						if g, w := tgt.reads[tag], tgt.writes[tag]; g != tc.wantGET || w != tc.wantPUT {
							t.Errorf("%s: %d GETs, %d PUTs; want %d, %d", tag, g, w, tc.wantGET, tc.wantPUT)
						}
						if got := listed(t, tgt, s.Digest); len(got) != k {
							t.Errorf("%s lists %d entries, want %d", tag, len(got), k)
						}
					}
				})
			})
		}
	}
}

// TestAttachAllOrder: Result.Referrers lists what AttachAll attached in
// the order of its artifacts, and a rerun writes nothing to the referrers
// tags (every entry listed) and starts no verification.
func TestAttachAllOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		img, subjects := memImage(t)
		tgt := newMemTarget()
		tgt.noAPI = true
		var arts []exporter.Artifact
		for i := range 3 {
			for _, s := range subjects {
				arts = append(arts, note(s, i))
			}
		}
		for run := range 2 {
			p := exporter.New(tgt, img, exporter.Options{Tag: "v1"})
			defer p.Abort()
			p.Images(t.Context())
			descs, err := p.AttachAll(t.Context(), arts)
			if err != nil {
				t.Fatal(err)
			}
			res, err := p.Commit(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range res.Referrers {
				if r.Descriptor.Digest != descs[i].Digest || r.Subject != arts[i].Subject.Digest {
					t.Errorf("run %d: Result.Referrers[%d] = %s of %s, want %s of %s", run, i, r.Descriptor.Digest, r.Subject, descs[i].Digest, arts[i].Subject.Digest)
				}
			}
		}
		for _, s := range subjects {
			tag := exporter.ReferrersTag(s.Digest)
			// First push: one round and two verify reads; rerun: one read.
			if g, w := tgt.reads[tag], tgt.writes[tag]; g != 4 || w != 1 {
				t.Errorf("%s: %d GETs, %d PUTs over both runs; want 4, 1", tag, g, w)
			}
		}
	})
}

// TestAttachAllErrors: each referrer of an AttachAll gets its own
// outcome. Where one subject's referrers tag holds something that is not
// an index, both of its referrers fail, each named in the error, and the
// tag is not overwritten; the other subject's referrers are attached and
// listed. An invalid artifact attaches nothing.
func TestAttachAllErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		img, subjects := memImage(t)
		tgt := newMemTarget()
		tgt.noAPI = true
		bad, good := subjects[0], subjects[1]
		conflict := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}`)
		tgt.manifests[exporter.ReferrersTag(bad.Digest)] = conflict

		p := pushImages(t, tgt, img)
		defer p.Abort()
		invalid := note(good, 9)
		invalid.ArtifactType = ""
		if _, err := p.AttachAll(t.Context(), []exporter.Artifact{note(good, 0), invalid}); !errors.Is(err, exporter.ErrInvalidArtifact) {
			t.Fatalf("AttachAll with an invalid artifact: %v, want ErrInvalidArtifact", err)
		}
		if n := len(tgt.writes); n != 2 { // the platform manifests
			t.Fatalf("AttachAll with an invalid artifact wrote: %v", tgt.writes)
		}

		arts := []exporter.Artifact{note(bad, 0), note(good, 0), note(bad, 1), note(good, 1)}
		descs, err := p.AttachAll(t.Context(), arts)
		if !errors.Is(err, exporter.ErrReferrersTagConflict) {
			t.Fatalf("err = %v, want ErrReferrersTagConflict", err)
		}
		for i, a := range arts {
			m, _, _ := a.Manifest()
			named := strings.Contains(err.Error(), m.Digest.String())
			if a.Subject.Digest == bad.Digest {
				if descs[i].Digest != "" || !named {
					t.Errorf("referrer %d of the conflicting subject: descriptor %s, named in the error %v", i, descs[i].Digest, named)
				}
			} else if descs[i].Digest != m.Digest || named {
				t.Errorf("referrer %d: descriptor %s, named in the error %v", i, descs[i].Digest, named)
			}
		}
		if got := tgt.manifests[exporter.ReferrersTag(bad.Digest)]; !bytes.Equal(got, conflict) {
			t.Errorf("conflicting referrers tag overwritten: %s", got)
		}
		if err := p.Ready(t.Context()); err != nil {
			t.Errorf("Ready: %v (the good subject's entries verify)", err)
		}
		if got := listed(t, tgt, good.Digest); len(got) != 2 {
			t.Errorf("good subject lists %v", got)
		}
	})
}

// TestRoundVerifyMergesBack: another writer drops both entries of a round
// right after it is written; the round's one verification merges them
// back in one write: the round's GET and PUT, then a read that misses
// both and the PUT that restores them, then two reads that list them.
func TestRoundVerifyMergesBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		img, subjects := memImage(t)
		tgt := newMemTarget()
		tgt.noAPI = true
		tgt.drops = 1
		s := subjects[0]
		p := exporter.New(tgt, img, exporter.Options{Tag: "v1"})
		defer p.Abort()
		p.Images(t.Context())
		if _, err := p.AttachAll(t.Context(), []exporter.Artifact{note(s, 0), note(s, 1)}); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Commit(t.Context()); err != nil {
			t.Fatal(err)
		}
		tag := exporter.ReferrersTag(s.Digest)
		if g, w := tgt.reads[tag], tgt.writes[tag]; g != 4 || w != 2 {
			t.Errorf("%s: %d GETs, %d PUTs; want 4, 2", tag, g, w)
		}
		if got := listed(t, tgt, s.Digest); len(got) != 2 {
			t.Errorf("%s lists %v, want both entries", tag, got)
		}
	})
}

// TestAttachAllRequests counts the requests of the two-platform fixture
// pushed with two SBOMs per platform (SPDX and CycloneDX) by one
// AttachAll, on registries without the referrers API: per referrers tag
// one GET (404) and one PUT for both entries, and two verify GETs. One
// round per referrer, as before AttachAll, cost 6 GETs and 2 PUTs per tag:
// 12 GETs and 20 PUTs in all.
func TestAttachAllRequests(t *testing.T) {
	ctx := context.Background()
	for _, kind := range []registrytest.Kind{registrytest.OlaregNoAPI, registrytest.Distribution} {
		t.Run(string(kind), func(t *testing.T) {
			reg := registrytest.Start(t, kind, registrytest.Options{})
			l, res := source(t, twoPlatforms(false))
			c, counter := client(nil)
			tgt := target(t, reg.Host, "app", c)
			p := exporter.New(tgt, &exporter.Image{Source: l, Root: res.Index}, exporter.Options{Tag: "v1"})
			defer p.Abort()
			go p.Images(ctx)
			var arts []exporter.Artifact
			for _, m := range res.Manifests {
				cdx := exporter.SBOM(m, oci.MediaTypeCycloneDX, fakeSBOM(m, "cyclonedx"), created, map[string]string{oci.AnnotationFormat: "cyclonedx-json"})
				arts = append(arts, sbomArtifact(m), cdx)
			}
			if _, err := p.AttachAll(ctx, arts); err != nil {
				t.Fatal(err)
			}
			if _, err := p.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			// The root (HEAD: absent); blobs: 4 image, the empty
			// config, 4 documents (HEAD, POST, PUT each); manifests: 2
			// platform, 4 referrers; per referrers tag GET, PUT, GET,
			// GET; the tag.
			want := map[string]int{"HEAD": 1 + 9, "POST": 9, "PUT": 4 + 1 + 4 + 2 + 4 + 2 + 1, "GET": 6}
			if g := countsString(counter.Counts()); g != countsString(want) {
				t.Errorf("requests: %s, want %s\n%s", g, countsString(want), strings.Join(counter.Log(), "\n"))
			}
			for _, m := range res.Manifests {
				tag := exporter.ReferrersTag(m.Digest)
				var get, put int
				for _, line := range counter.Log() {
					if strings.Contains(line, "/manifests/"+tag+" ") {
						get += strings.Count(line, "GET ")
						put += strings.Count(line, "PUT ")
					}
				}
				if get != 3 || put != 1 {
					t.Errorf("%s: %d GETs, %d PUTs; want 3, 1", tag, get, put)
				}
				if got := listed(t, tgt, m.Digest); len(got) != 2 {
					t.Errorf("%s lists %v, want 2 entries", tag, got)
				}
			}
		})
	}
}

// TestRoundPreconditionFailed: the referrers tag lists another writer's
// entry; a third writer adds its own between the round's read and its
// conditional write, which fails with 412. The round reads again and
// writes every entry of the round beside both others' in its second PUT;
// one verification covers them all.
func TestRoundPreconditionFailed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		img, subjects := memImage(t)
		tgt := newMemTarget()
		s := subjects[0]
		tag := exporter.ReferrersTag(s.Digest)
		tgt.sneak(tag)
		tgt.noAPI, tgt.etags, tgt.sneaks = true, true, 1
		p := exporter.New(tgt, img, exporter.Options{Tag: "v1"})
		defer p.Abort()
		p.Images(t.Context())
		arts := []exporter.Artifact{note(s, 0), note(s, 1), note(s, 2)}
		if _, err := p.AttachAll(t.Context(), arts); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Commit(t.Context()); err != nil {
			t.Fatal(err)
		}
		// GET, PUT (412), GET, PUT; two verify GETs.
		if g, w := tgt.reads[tag], tgt.writes[tag]; g != 4 || w != 2 {
			t.Errorf("%s: %d GETs, %d PUTs; want 4, 2", tag, g, w)
		}
		if got := listed(t, tgt, s.Digest); len(got) != len(arts)+2 {
			t.Errorf("%s lists %v, want our %d entries and the other writers' 2", tag, got, len(arts))
		}
	})
}

// TestRoundKeepsForeignEntries: an entry another tool wrote in a
// referrers index, with fields beyond the OCI descriptor's, and the
// index's annotations are written back as they were when affix adds its
// own entry.
func TestRoundKeepsForeignEntries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		img, subjects := memImage(t)
		tgt := newMemTarget()
		tgt.noAPI = true
		s := subjects[0]
		tag := exporter.ReferrersTag(s.Digest)
		foreign := `{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:` + strings.Repeat("f", 64) +
			`","size":321,"artifactType":"application/vnd.example.sig","annotations":{"k":"v"},"com.example.extra":{"kept":true}}`
		tgt.manifests[tag] = []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[` + foreign +
			`],"annotations":{"com.example.index":"kept"}}`)
		p := pushImages(t, tgt, img)
		defer p.Abort()
		if _, err := p.AttachAll(t.Context(), []exporter.Artifact{note(s, 0)}); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Commit(t.Context()); err != nil {
			t.Fatal(err)
		}
		got := tgt.manifests[tag]
		if !bytes.Contains(got, []byte(foreign)) || !bytes.Contains(got, []byte(`"annotations":{"com.example.index":"kept"}`)) {
			t.Errorf("the other tool's entry or the index annotations changed:\n%s", got)
		}
		if l := listed(t, tgt, s.Digest); len(l) != 2 {
			t.Errorf("%s lists %v, want the other tool's entry and affix's", tag, l)
		}
	})
}

// TestRoundLostAnswerVerified: the round's write of the referrers tag
// lands, but its answer is a 412 (the answer was lost and the resend's
// If-Match no longer matched). The round reads the tag again and finds
// its entries listed: it still verifies them, since another writer may
// have read the tag before that write and write after it. One does, and
// drops them: the verification merges them back, and Commit moves the
// tag with both entries listed.
func TestRoundLostAnswerVerified(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		img, subjects := memImage(t)
		tgt := newMemTarget()
		s := subjects[0]
		tag := exporter.ReferrersTag(s.Digest)
		tgt.noAPI, tgt.etags, tgt.lost = true, true, 1
		gets := 0
		tgt.hook = func(ctx context.Context, op, ref string) error {
			if op != "get" || ref != tag {
				return nil
			}
			tgt.mu.Lock()
			defer tgt.mu.Unlock()
			if gets++; gets == 3 {
				// The first read after the round's: another writer's
				// stale write dropped our entries.
				tgt.manifests[tag] = []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`)
			}
			return nil
		}
		p := pushImages(t, tgt, img)
		defer p.Abort()
		if _, err := p.AttachAll(t.Context(), []exporter.Artifact{note(s, 0), note(s, 1)}); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Commit(t.Context()); err != nil {
			t.Fatalf("Commit: %v", err)
		}
		if got := listed(t, tgt, s.Digest); len(got) != 2 {
			t.Errorf("%s lists %v, want both entries", tag, got)
		}
	})
}

// TestVerifyRoundsAtLeastTwo: an entry is verified by two consecutive
// reads that list it, so VerifyRounds below 2 means 2, not a push that
// always fails with ErrReferrerLost.
func TestVerifyRoundsAtLeastTwo(t *testing.T) {
	for _, rounds := range []int{1, 2} {
		t.Run(fmt.Sprint(rounds), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				img, subjects := memImage(t)
				tgt := newMemTarget()
				tgt.noAPI = true
				p := exporter.New(tgt, img, exporter.Options{Tag: "v1", VerifyRounds: rounds})
				defer p.Abort()
				if err := p.Images(t.Context()); err != nil {
					t.Fatal(err)
				}
				if _, err := p.Attach(t.Context(), note(subjects[0], 0)); err != nil {
					t.Fatal(err)
				}
				if _, err := p.Commit(t.Context()); err != nil {
					t.Fatalf("Commit: %v", err)
				}
				if tag := exporter.ReferrersTag(subjects[0].Digest); tgt.reads[tag] != 3 {
					t.Errorf("%s read %d times, want 3 (the round's and two verifying)", tag, tgt.reads[tag])
				}
			})
		})
	}
}

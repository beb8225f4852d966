package exporter_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/registrytest"
)

// warnings collects a push's warnings (Options.Warnf).
type warnings struct {
	mu    sync.Mutex
	lines []string
}

func (w *warnings) warnf(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lines = append(w.lines, fmt.Sprintf(format, args...))
}

// naming returns the warnings that name d.
func (w *warnings) naming(d digest.Digest) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, l := range w.lines {
		if strings.Contains(l, d.String()) {
			out = append(out, l)
		}
	}
	return out
}

func (w *warnings) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.lines)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// deleteManifest deletes the manifest d of repo, as a user does with
// curl -X DELETE .../manifests/<digest>, and checks that a HEAD of it then
// finds nothing.
func deleteManifest(t *testing.T, host, repo string, d digest.Digest) {
	t.Helper()
	u := "http://" + host + "/v2/" + repo + "/manifests/" + d.String()
	req, _ := http.NewRequest(http.MethodDelete, u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("DELETE %s: %s", d, resp.Status)
	}
	if got := resolve(t, host, repo, d.String()); got != "" {
		t.Fatalf("%s still there after DELETE", d)
	}
}

// attachNotes attaches arts to tgt in a push of referrers only (affix
// attach), warnings to w.
func attachNotes(ctx context.Context, tgt exporter.Target, w *warnings, arts ...exporter.Artifact) error {
	return attachNotesAfter(ctx, tgt, w, 20*time.Millisecond, arts...)
}

// attachNotesAfter is attachNotes with the verification's delay: writers
// at the same time need one longer than a write's read-to-write window
// can be on a loaded machine, as in production (150 ms).
func attachNotesAfter(ctx context.Context, tgt exporter.Target, w *warnings, delay time.Duration, arts ...exporter.Artifact) error {
	p := exporter.New(tgt, nil, exporter.Options{VerifyDelay: delay, Warnf: w.warnf})
	defer p.Abort()
	if _, err := p.AttachAll(ctx, arts); err != nil {
		return err
	}
	_, err := p.Commit(ctx)
	return err
}

// cyclonedx is a CycloneDX SBOM of subject, another digest than
// sbomArtifact's.
func cyclonedx(subject ocispec.Descriptor) exporter.Artifact {
	return exporter.SBOM(subject, oci.MediaTypeCycloneDX, fakeSBOM(subject, "cyclonedx"), created, map[string]string{oci.AnnotationFormat: "cyclonedx-json"})
}

// countLog counts the proxy log entries from index from that are method
// on a path ending in suffix.
func countLog(log []string, from int, method, suffix string) int {
	n := 0
	for _, l := range log[from:] {
		m, path, _ := strings.Cut(l, " ")
		path, _, _ = strings.Cut(path, " ") // a fault's " [action]"
		if m == method && strings.HasSuffix(path, suffix) {
			n++
		}
	}
	return n
}

// danglingScene is a registry (behind a proxy) whose repository app holds
// the two-platform fixture under v1, each platform with its SPDX SBOM
// listed in its referrers tag.
type danglingScene struct {
	reg   *registrytest.Registry
	proxy *registrytest.Proxy
	tgt   exporter.Target
	l     *oci.Layout
	res   *fixture.Result
	s0    ocispec.Descriptor // the first platform manifest
	sbom0 digest.Digest      // its SBOM
}

func newDanglingScene(t *testing.T, kind registrytest.Kind) *danglingScene {
	t.Helper()
	sc := &danglingScene{reg: registrytest.Start(t, kind, registrytest.Options{Delete: true})}
	sc.proxy = registrytest.StartProxy(t, sc.reg.Host)
	c, _ := client(nil)
	sc.tgt = target(t, sc.proxy.Host, "app", c)
	sc.l, sc.res = source(t, twoPlatforms(false))
	if _, err := pushAll(t.Context(), sc.tgt, sc.l, sc.res, exporter.Options{Tag: "v1", VerifyDelay: 20 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	sc.s0 = sc.res.Manifests[0]
	sc.sbom0 = manifestOf(t, sbomArtifact(sc.s0))
	if got := listed(t, sc.tgt, sc.s0.Digest); !slices.Equal(got, []digest.Digest{sc.sbom0}) {
		t.Fatalf("%s lists %v, want %s", exporter.ReferrersTag(sc.s0.Digest), got, sc.sbom0)
	}
	return sc
}

// TestDanglingReferrer: a referrer manifest deleted from the registry
// while its referrers tag still lists it (a dangling entry) does not stop
// later writes of the tag. Distribution refuses an index listing a
// manifest it lacks (400 MANIFEST_BLOB_UNKNOWN, naming each); the push
// checks the entries named (one HEAD each), drops those gone, warns
// naming each, and writes again: one refused PUT more, whatever the
// number gone. olareg takes such an index (the deleted manifest's blob
// is still in its store): the entry stays, and no HEAD is spent.
func TestDanglingReferrer(t *testing.T) {
	kinds := []struct {
		kind    registrytest.Kind
		refuses bool // the registry refuses an index listing a deleted manifest
	}{
		{registrytest.OlaregNoAPI, false},
		{registrytest.Distribution, true},
		{registrytest.DistributionV3, true},
	}
	for _, k := range kinds {
		t.Run(string(k.kind), func(t *testing.T) {
			t.Parallel()
			t.Run("attach", func(t *testing.T) {
				t.Parallel()
				sc := newDanglingScene(t, k.kind)
				ctx := t.Context()
				// A note attached later, then deleted with the SBOM: two
				// entries dangle.
				w := &warnings{}
				if err := attachNotes(ctx, sc.tgt, w, note(sc.s0, 1)); err != nil {
					t.Fatal(err)
				}
				note1 := manifestOf(t, note(sc.s0, 1))
				deleteManifest(t, sc.reg.Host, "app", sc.sbom0)
				deleteManifest(t, sc.reg.Host, "app", note1)
				from := len(sc.proxy.Log())
				if err := attachNotes(ctx, sc.tgt, w, note(sc.s0, 2)); err != nil {
					t.Fatalf("attach after deleting two referrers: %v", err)
				}
				note2 := manifestOf(t, note(sc.s0, 2))
				tag := exporter.ReferrersTag(sc.s0.Digest)
				log := sc.proxy.Log()
				got := listed(t, sc.tgt, sc.s0.Digest)
				puts, heads := countLog(log, from, "PUT", "/manifests/"+tag), countLog(log, from, "HEAD", "/manifests/"+sc.sbom0.String())+countLog(log, from, "HEAD", "/manifests/"+note1.String())
				if !k.refuses {
					if want := []digest.Digest{sc.sbom0, note1, note2}; !slices.Equal(got, want) {
						t.Errorf("%s lists %v, want %v (the registry takes the entries)", tag, got, want)
					}
					if len(w.all()) != 0 || puts != 1 || heads != 0 {
						t.Errorf("warnings %q, %d PUTs of the tag, %d HEADs of the deleted; want none, 1, 0", w.all(), puts, heads)
					}
					return
				}
				if want := []digest.Digest{note2}; !slices.Equal(got, want) {
					t.Errorf("%s lists %v, want %v", tag, got, want)
				}
				for _, d := range []digest.Digest{sc.sbom0, note1} {
					if n := len(w.naming(d)); n != 1 {
						t.Errorf("%d warnings name %s, want 1: %q", n, d, w.all())
					}
				}
				if len(w.all()) != 2 || !strings.Contains(w.all()[0], "dropped it from the referrers tag "+tag) {
					t.Errorf("warnings: %q", w.all())
				}
				// One refusal names both; each is checked once.
				if puts != 2 || heads != 2 {
					t.Errorf("%d PUTs of the tag, %d HEADs of the deleted; want 2, 2\n%s", puts, heads, strings.Join(log[from:], "\n"))
				}
			})
			t.Run("push", func(t *testing.T) {
				t.Parallel()
				sc := newDanglingScene(t, k.kind)
				ctx := t.Context()
				deleteManifest(t, sc.reg.Host, "app", sc.sbom0)
				// The same image again with CycloneDX SBOMs: the first
				// platform's tag lists the deleted SPDX SBOM, the
				// second's does not.
				w := &warnings{}
				p := exporter.New(sc.tgt, &exporter.Image{Source: sc.l, Root: sc.res.Index}, exporter.Options{Tag: "v1", VerifyDelay: 20 * time.Millisecond, Warnf: w.warnf})
				defer p.Abort()
				go p.Images(ctx)
				var arts []exporter.Artifact
				for _, m := range sc.res.Manifests {
					arts = append(arts, cyclonedx(m))
				}
				if _, err := p.AttachAll(ctx, arts); err != nil {
					t.Fatal(err)
				}
				if _, err := p.Commit(ctx); err != nil {
					t.Fatalf("push after deleting an SBOM: %v", err)
				}
				cdx0 := manifestOf(t, cyclonedx(sc.s0))
				want := []digest.Digest{cdx0}
				if !k.refuses {
					want = []digest.Digest{sc.sbom0, cdx0}
				}
				if got := listed(t, sc.tgt, sc.s0.Digest); !slices.Equal(got, want) {
					t.Errorf("%s lists %v, want %v", exporter.ReferrersTag(sc.s0.Digest), got, want)
				}
				s1 := sc.res.Manifests[1]
				if got, want := listed(t, sc.tgt, s1.Digest), []digest.Digest{manifestOf(t, sbomArtifact(s1)), manifestOf(t, cyclonedx(s1))}; !slices.Equal(got, want) {
					t.Errorf("%s lists %v, want %v", exporter.ReferrersTag(s1.Digest), got, want)
				}
				if n := len(w.naming(sc.sbom0)); (n == 1) != k.refuses || len(w.all()) != n {
					t.Errorf("warnings %q", w.all())
				}
			})
			t.Run("concurrent attaches", func(t *testing.T) {
				t.Parallel()
				// Two pushes attach to the subject at once: each may
				// find the dangling entry (both drop it) or the other's
				// write without it; the registry ignores If-Match, and
				// the verifications merge back a lost entry.
				sc := newDanglingScene(t, k.kind)
				deleteManifest(t, sc.reg.Host, "app", sc.sbom0)
				w := &warnings{}
				var wg sync.WaitGroup
				errs := make([]error, 2)
				for i := range errs {
					c, _ := client(nil)
					tgt := target(t, sc.proxy.Host, "app", c)
					wg.Go(func() { errs[i] = attachNotesAfter(t.Context(), tgt, w, 500*time.Millisecond, note(sc.s0, 10+i)) })
				}
				wg.Wait()
				for _, err := range errs {
					if err != nil {
						t.Fatal(err)
					}
				}
				got := listed(t, sc.tgt, sc.s0.Digest)
				for i := range errs {
					if d := manifestOf(t, note(sc.s0, 10+i)); !slices.Contains(got, d) {
						t.Errorf("%v does not list %s", got, d)
					}
				}
				if want := 2 + boolInt(!k.refuses); slices.Contains(got, sc.sbom0) == k.refuses || len(got) != want {
					t.Errorf("lists %v, want both notes, and the deleted SBOM only where the registry takes it", got)
				}
				if n := len(w.naming(sc.sbom0)); (n > 0) != k.refuses || n > 2 {
					t.Errorf("warnings %q", w.all())
				}
			})
			t.Run("push the deleted SBOM again", func(t *testing.T) {
				t.Parallel()
				// The deleted SBOM pushed again (the same bytes): its
				// manifest is back, and the tag that lists it is right
				// as it is.
				sc := newDanglingScene(t, k.kind)
				deleteManifest(t, sc.reg.Host, "app", sc.sbom0)
				from := len(sc.proxy.Log())
				if _, err := pushAll(t.Context(), sc.tgt, sc.l, sc.res, exporter.Options{Tag: "v1", VerifyDelay: 20 * time.Millisecond}); err != nil {
					t.Fatal(err)
				}
				if got := resolve(t, sc.reg.Host, "app", sc.sbom0.String()); got != sc.sbom0 {
					t.Errorf("SBOM manifest not written again")
				}
				if got := listed(t, sc.tgt, sc.s0.Digest); !slices.Equal(got, []digest.Digest{sc.sbom0}) {
					t.Errorf("lists %v", got)
				}
				if n := countLog(sc.proxy.Log(), from, "PUT", "/manifests/"+exporter.ReferrersTag(sc.s0.Digest)); n != 0 {
					t.Errorf("%d PUTs of the referrers tag, want 0", n)
				}
			})
		})
	}
}

// TestDanglingReferrerRefusals: a refusal the push cannot settle by
// dropping an entry gone from the registry fails the attach at once, with
// a message that says why, and leaves the tag as it was: the registry
// names an entry a HEAD finds (it contradicts itself), an entry this push
// wrote, or one whose HEAD fails. A refusal naming no entry of the tag
// has the entries checked, and one gone is dropped.
func TestDanglingReferrerRefusals(t *testing.T) {
	refusal := func(detail string) string {
		return `{"errors":[{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry","detail":"` + detail + `"}]}`
	}
	for _, kind := range []registrytest.Kind{registrytest.OlaregNoAPI, registrytest.Distribution} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			for _, tc := range []struct {
				name string
				// faults for the scene, its SBOM and the note attached.
				faults func(sc *danglingScene, noteDigest digest.Digest) []registrytest.Fault
				// deleteSBOM deletes the SBOM manifest first.
				deleteSBOM bool
				// err is what the attach's error says, "" for none.
				err        func(sc *danglingScene, noteDigest digest.Digest) []string
				puts, head int // PUTs of the tag, HEADs of the SBOM
			}{
				{"the registry has the entry it names", func(sc *danglingScene, _ digest.Digest) []registrytest.Fault {
					return []registrytest.Fault{{Method: http.MethodPut, Path: "/manifests/sha256-", Action: registrytest.Status, Code: 400, Body: refusal(sc.sbom0.String())}}
				}, false, func(sc *danglingScene, _ digest.Digest) []string {
					return []string{"MANIFEST_BLOB_UNKNOWN", "no entry was dropped: the registry has " + sc.sbom0.String() + " (a HEAD finds it"}
				}, 1, 1},
				{"it names this push's entry", func(sc *danglingScene, n digest.Digest) []registrytest.Fault {
					return []registrytest.Fault{{Method: http.MethodPut, Path: "/manifests/sha256-", Action: registrytest.Status, Code: 400, Body: refusal(n.String())}}
				}, true, func(sc *danglingScene, n digest.Digest) []string {
					return []string{"no entry was dropped: " + n.String() + " is a referrer this push wrote"}
				}, 1, 0},
				{"the HEAD fails", func(sc *danglingScene, _ digest.Digest) []registrytest.Fault {
					return []registrytest.Fault{
						{Method: http.MethodPut, Path: "/manifests/sha256-", Action: registrytest.Status, Code: 400, Body: refusal(sc.sbom0.String())},
						{Method: http.MethodHead, Path: "/manifests/" + sc.sbom0.String(), Action: registrytest.Status, Code: 403},
					}
				}, true, func(sc *danglingScene, _ digest.Digest) []string {
					return []string{"no entry was dropped: checking " + sc.sbom0.String() + ": ", "403"}
				}, 1, 1},
				{"it names none", func(sc *danglingScene, _ digest.Digest) []registrytest.Fault {
					return []registrytest.Fault{{Method: http.MethodPut, Path: "/manifests/sha256-", Action: registrytest.Status, Code: 400, Body: refusal(""), Times: 1}}
				}, true, nil, 2, 1},
				{"it names none and none is gone", func(sc *danglingScene, _ digest.Digest) []registrytest.Fault {
					return []registrytest.Fault{{Method: http.MethodPut, Path: "/manifests/sha256-", Action: registrytest.Status, Code: 400, Body: refusal("")}}
				}, false, func(sc *danglingScene, _ digest.Digest) []string {
					return []string{"no entry was dropped: the refusal names no entry of the tag, and none of the 1 checked is gone"}
				}, 1, 1},
			} {
				t.Run(tc.name, func(t *testing.T) {
					sc := newDanglingScene(t, kind)
					a := note(sc.s0, 1)
					n := manifestOf(t, a)
					if tc.deleteSBOM {
						deleteManifest(t, sc.reg.Host, "app", sc.sbom0)
					}
					tag := exporter.ReferrersTag(sc.s0.Digest)
					before := resolve(t, sc.reg.Host, "app", tag)
					for _, f := range tc.faults(sc, n) {
						sc.proxy.Inject(f)
					}
					from := len(sc.proxy.Log())
					w := &warnings{}
					err := attachNotes(t.Context(), sc.tgt, w, a)
					log := sc.proxy.Log()
					puts, heads := countLog(log, from, "PUT", "/manifests/"+tag), countLog(log, from, "HEAD", "/manifests/"+sc.sbom0.String())
					if puts != tc.puts || heads != tc.head {
						t.Errorf("%d PUTs of the tag, %d HEADs of the SBOM; want %d, %d\n%s", puts, heads, tc.puts, tc.head, strings.Join(log[from:], "\n"))
					}
					if tc.err == nil {
						if err != nil {
							t.Fatal(err)
						}
						if got := listed(t, sc.tgt, sc.s0.Digest); !slices.Equal(got, []digest.Digest{n}) {
							t.Errorf("%s lists %v, want %s", tag, got, n)
						}
						if len(w.naming(sc.sbom0)) != 1 || len(w.all()) != 1 {
							t.Errorf("warnings %q", w.all())
						}
						return
					}
					if err == nil {
						t.Fatal("attach succeeded")
					}
					for _, s := range tc.err(sc, n) {
						if !strings.Contains(err.Error(), s) {
							t.Errorf("error %q\ndoes not say %q", err, s)
						}
					}
					if len(w.all()) != 0 {
						t.Errorf("warnings %q", w.all())
					}
					if after := resolve(t, sc.reg.Host, "app", tag); after != before {
						t.Errorf("%s moved", tag)
					}
				})
			}
		})
	}
}

// TestDanglingVerifyMergeBack: a verification that merges back an entry
// another writer dropped, where that writer's index lists a referrer
// deleted since (the registry refuses the merge-back), drops the
// dangling entry and writes again: it is not carried back into the tag,
// and the push succeeds.
func TestDanglingVerifyMergeBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		img, subjects := memImage(t)
		s := subjects[0]
		tag := exporter.ReferrersTag(s.Digest)
		gone := digest.FromString("another writer's referrer, deleted since")
		tgt := newMemTarget()
		tgt.noAPI, tgt.validate = true, true
		var once sync.Once
		tgt.hook = func(ctx context.Context, op, reference string) error {
			tgt.mu.Lock()
			defer tgt.mu.Unlock()
			if op == "get" && reference == tag && tgt.writes[tag] == 1 {
				once.Do(func() {
					idx := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":%q,"size":3,"artifactType":"application/vnd.example.other"}]}`, gone)
					tgt.manifests[tag] = []byte(idx)
				})
			}
			return nil
		}
		w := pushNote(t, tgt, img, note(s, 0))
		if got, want := listed(t, tgt, s.Digest), []digest.Digest{manifestOf(t, note(s, 0))}; !slices.Equal(got, want) {
			t.Errorf("%s lists %v, want %v", tag, got, want)
		}
		// The round's write, the refused merge-back, the merge-back.
		if n := tgt.writes[tag]; n != 3 {
			t.Errorf("%d writes of %s, want 3", n, tag)
		}
		if len(w.naming(gone)) != 1 || len(w.all()) != 1 {
			t.Errorf("warnings %q", w.all())
		}
	})
}

// TestDanglingOneAtATime: a registry that names one missing manifest per
// refusal costs one write (and one read) per dangling entry, within the
// bound of writes (8): three are dropped and the entry written; eight are
// more than the bound allows, and the attach fails saying so, the tag
// left as it was. Each write after a refusal follows a fresh read of the
// tag, so that an entry another writer added meanwhile is kept; with
// ETags it sends that read's If-Match: no 412.
func TestDanglingOneAtATime(t *testing.T) {
	for _, tc := range []struct {
		dangling int
		ok       bool
		etags    bool
	}{{3, true, false}, {3, true, true}, {8, false, false}} {
		t.Run(fmt.Sprintf("%d etags=%v", tc.dangling, tc.etags), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tag := exporter.ReferrersTag(edgeSubject.Digest)
				tgt := newMemTarget()
				tgt.noAPI, tgt.validate, tgt.refuse, tgt.etags = true, true, 1, tc.etags
				var entries []string
				var gone []digest.Digest
				for i := range tc.dangling {
					d := digest.FromString(fmt.Sprint("deleted ", i))
					gone = append(gone, d)
					entries = append(entries, fmt.Sprintf(`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":%q,"size":3}`, d))
				}
				before := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[` + strings.Join(entries, ",") + `]}`)
				tgt.manifests[tag] = before
				w := &warnings{}
				err := attachNotes(t.Context(), tgt, w, note(edgeSubject, 0))
				if !tc.ok {
					if err == nil || !strings.Contains(err.Error(), "MANIFEST_BLOB_UNKNOWN") || !strings.Contains(err.Error(), "gave up after 8 writes") {
						t.Fatalf("attach: %v, want the refusal, and that it gave up after 8 writes", err)
					}
					if tgt.writes[tag] != 8 || string(tgt.manifests[tag]) != string(before) || len(w.all()) != 0 {
						t.Errorf("%d writes, tag changed %v, warnings %q", tgt.writes[tag], string(tgt.manifests[tag]) != string(before), w.all())
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if got, want := listed(t, tgt, edgeSubject.Digest), []digest.Digest{manifestOf(t, note(edgeSubject, 0))}; !slices.Equal(got, want) {
					t.Errorf("lists %v, want %v", got, want)
				}
				// A read before each write (no 412).
				var ops []string
				for _, l := range tgt.log {
					if strings.HasSuffix(l, " "+tag) {
						ops = append(ops, strings.Fields(l)[0])
					}
				}
				want := append(append([]string{"get"}, slices.Repeat([]string{"put", "get"}, tc.dangling)...), "put", "get")
				if len(ops) < len(want) || !slices.Equal(ops[:len(want)], want) {
					t.Errorf("requests of %s: %v, want %v then the verification's reads", tag, ops, want)
				}
				for _, d := range gone {
					if len(w.naming(d)) != 1 {
						t.Errorf("warnings %q do not name %s once", w.all(), d)
					}
				}
			})
		})
	}
}

// TestDanglingManyAtOnce: a refusal naming every missing manifest (as
// distribution's does) gets at most 32 checked: 40 dangling entries cost
// two refused writes, each entry checked once, then the write.
func TestDanglingManyAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tag := exporter.ReferrersTag(edgeSubject.Digest)
		tgt := newMemTarget()
		tgt.noAPI, tgt.validate = true, true
		var entries []string
		gone := map[string]bool{}
		for i := range 40 {
			d := digest.FromString(fmt.Sprint("deleted ", i))
			gone[d.String()] = true
			entries = append(entries, fmt.Sprintf(`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":%q,"size":3}`, d))
		}
		tgt.manifests[tag] = []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[` + strings.Join(entries, ",") + `]}`)
		w := &warnings{}
		if err := attachNotes(t.Context(), tgt, w, note(edgeSubject, 0)); err != nil {
			t.Fatal(err)
		}
		checks := 0
		for _, l := range tgt.log {
			if op, ref, _ := strings.Cut(l, " "); op == "get" && gone[ref] {
				checks++
			}
		}
		if tgt.writes[tag] != 3 || checks != 40 || len(w.all()) != 40 {
			t.Errorf("%d writes, %d checks, %d warnings; want 3, 40, 40", tgt.writes[tag], checks, len(w.all()))
		}
		if got, want := listed(t, tgt, edgeSubject.Digest), []digest.Digest{manifestOf(t, note(edgeSubject, 0))}; !slices.Equal(got, want) {
			t.Errorf("lists %v, want %v", got, want)
		}
	})
}

// TestDanglingRereadAbsent: a verification's merge-back is refused for a
// gone entry, and the read of the tag after the entry is dropped answers
// 404 (a stale replica): the write that follows keeps the other writer's
// entry the earlier read listed, rather than writing this push's alone
// onto a tag taken for empty.
func TestDanglingRereadAbsent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		img, subjects := memImage(t)
		s := subjects[0]
		tag := exporter.ReferrersTag(s.Digest)
		gone := digest.FromString("another writer's referrer, deleted since")
		xBody := []byte(`{"schemaVersion":2}`)
		x := digest.FromBytes(xBody)
		tgt := newMemTarget()
		tgt.noAPI, tgt.validate = true, true
		tgt.manifests[x.String()] = xBody
		var once, once404 sync.Once
		tgt.hook = func(ctx context.Context, op, reference string) error {
			tgt.mu.Lock()
			defer tgt.mu.Unlock()
			if op == "get" && reference == tag && tgt.writes[tag] == 1 {
				// Another writer's write replaces ours: its present X
				// and a gone entry.
				once.Do(func() {
					tgt.manifests[tag] = fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":%q,"size":%d,"artifactType":"application/vnd.example.other"},{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":%q,"size":3,"artifactType":"application/vnd.example.other"}]}`, x, len(xBody), gone)
				})
			}
			var err error
			if op == "get" && reference == tag && tgt.writes[tag] == 2 {
				once404.Do(func() { err = fmt.Errorf("%s: %w", tag, exporter.ErrNotFound) })
			}
			return err
		}
		pushNote(t, tgt, img, note(s, 0))
		got := listed(t, tgt, s.Digest)
		if !slices.Contains(got, x) || !slices.Contains(got, manifestOf(t, note(s, 0))) || slices.Contains(got, gone) {
			t.Errorf("%s lists %v, want the other writer's %s and ours, not the gone %s", tag, got, x, gone)
		}
	})
}

// pushNote pushes img to tgt with the artifact a attached, and returns the
// push's warnings.
func pushNote(t *testing.T, tgt exporter.Target, img *exporter.Image, a exporter.Artifact) *warnings {
	t.Helper()
	w := &warnings{}
	p := exporter.New(tgt, img, exporter.Options{Tag: "v1", Warnf: w.warnf})
	defer p.Abort()
	if err := p.Images(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Attach(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	return w
}

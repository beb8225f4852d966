package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/registrytest"
	"github.com/affix-oci/affix/plugin/convert"
)

// pushBuildKitStyle pushes the Variants fixture with BuildKit-style
// attestation manifests to reg as repo:v1, as buildctl would.
func pushBuildKitStyle(t *testing.T, reg *registrytest.Registry, repo string) *fixture.Result {
	t.Helper()
	spec := fixture.Variants()
	spec.Images = spec.Images[:2]
	spec.Attestations = true
	dir := t.TempDir()
	res, err := fixture.WriteLayout(dir, spec)
	if err != nil {
		t.Fatal(err)
	}
	l, err := oci.OpenLayout(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r, err := exporter.NewRemote(registry.Reference{Registry: reg.Host, Repository: repo}, exporter.RemoteOptions{PlainHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	p := exporter.New(r, &exporter.Image{Source: l, Root: res.Index}, exporter.Options{Tag: "v1"})
	if err := p.Images(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	return res
}

func TestConvertCommand(t *testing.T) {
	cliEnv(t)
	reg := registrytest.Start(t, registrytest.OlaregNoAPI, registrytest.Options{})
	res := pushBuildKitStyle(t, reg, "app")
	ref := reg.Ref("app") + ":v1"
	meta := filepath.Join(t.TempDir(), "meta.json")

	out, errOut, code := affix(t, "convert", "--insecure-registry", reg.Host, "--metadata-file", meta, ref)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "converted "+ref+"@"+res.Index.Digest.String()) || strings.Count(out, "(written)") != 2 || !strings.Contains(out, "referrers: tag-schema ("+reg.Ref("app")+")") {
		t.Errorf("output:\n%s", out)
	}
	b, err := os.ReadFile(meta)
	if err != nil {
		t.Fatal(err)
	}
	var m convertMetadata
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m.Index != res.Index.Digest || m.NewIndex != "" || m.Written != 2 || len(m.Platforms) != 2 || m.ReferrersMode[reg.Ref("app")] != exporter.ModeTagSchema || m.RequestsTotal == 0 {
		t.Errorf("metadata %+v", m)
	}
	for i, p := range m.Platforms {
		if p.Digest != res.Manifests[i].Digest || p.Attestation != res.Attestations[i].Digest || p.Referrer == nil || p.Referrer.ArtifactType != oci.MediaTypeSPDX || p.Existed {
			t.Errorf("platform %d: %+v", i, p)
		}
	}

	// By digest, and by tag@digest: the reference is printed once with its
	// digest; a tag naming another digest is refused.
	byDigest := reg.Ref("app") + "@" + res.Index.Digest.String()
	for _, r := range []string{byDigest, ref + "@" + res.Index.Digest.String()} {
		out, errOut, code = affix(t, "convert", "--insecure-registry", reg.Host, r)
		if code != 0 || !strings.Contains(out, "converted "+r+"\n") || strings.Count(out, res.Index.Digest.String()) != 1 {
			t.Errorf("convert %s: exit %d\n%s%s", r, code, out, errOut)
		}
	}
	other := "sha256:" + strings.Repeat("0", 64)
	_, errOut, code = affix(t, "convert", "--insecure-registry", reg.Host, "--strip-attestations", ref+"@"+other)
	if code != 1 || !strings.Contains(errOut, "v1 names "+res.Index.Digest.String()+", not "+other) {
		t.Errorf("tag@other digest: exit %d, %q", code, errOut)
	}

	// ls shows each platform with its SPDX referrer.
	out, errOut, code = affix(t, "ls", "--insecure-registry", reg.Host, ref)
	if code != 0 || strings.Count(out, "application/spdx+json") != 2 {
		t.Errorf("ls: exit %d\n%s%s", code, out, errOut)
	}

	// Strip (the tag, verified to name the index): old and new index digests.
	out, errOut, code = affix(t, "convert", "--insecure-registry", reg.Host, "--strip-attestations", "--metadata-file", meta, ref+"@"+res.Index.Digest.String())
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	b, _ = os.ReadFile(meta)
	m = convertMetadata{}
	json.Unmarshal(b, &m)
	if m.NewIndex == "" || m.NewIndex == m.Index || len(m.StrippedAttestations) != 2 || m.Written != 0 {
		t.Errorf("strip metadata %+v", m)
	}
	if !strings.Contains(out, "old index: "+res.Index.Digest.String()) || !strings.Contains(out, "new index: "+m.NewIndex.String()) || strings.Count(out, "(already there)") != 2 {
		t.Errorf("strip output:\n%s", out)
	}
	out, _, _ = affix(t, "ls", "--insecure-registry", reg.Host, ref)
	if strings.Contains(out, "attestation") || strings.Count(out, "application/spdx+json") != 2 || !strings.Contains(out, m.NewIndex.String()) {
		t.Errorf("ls after strip:\n%s", out)
	}

	// Nothing left to do.
	// Nothing to convert: said so, with the SBOM referrers each platform has.
	out, _, code = affix(t, "convert", "--insecure-registry", reg.Host, "--strip-attestations", ref)
	if code != 0 || strings.Contains(out, "new index") || strings.Contains(out, "converted") ||
		!strings.HasPrefix(out, "nothing to convert in "+ref+"@"+m.NewIndex.String()+": the index has no BuildKit attestation manifest") ||
		strings.Count(out, "SBOM referrer  ") != 2 || strings.Count(out, "application/spdx+json") != 2 {
		t.Errorf("rerun: exit %d\n%s", code, out)
	}
}

func TestConvertCommandErrors(t *testing.T) {
	cliEnv(t)
	tests := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"convert"}, 2, "want one REF"},
		{[]string{"convert", "a", "b"}, 2, "want one REF"},
		{[]string{"convert", "oci-layout:/tmp/x"}, 2, "not a local layout"},
		{[]string{"convert", "--strip-attestations", "localhost:1/app@sha256:" + strings.Repeat("a", 64)}, 2, "names a digest"},
		{[]string{"convert", "--max-concurrency", "0", "localhost:1/app:v1"}, 2, "--max-concurrency"},
		{[]string{"convert", "--bogus", "localhost:1/app:v1"}, 2, "unknown flag"},
		{[]string{"convert", "--name", "BAD NAME", "localhost:1/app:v1"}, 2, `--name "BAD NAME"`},
		{[]string{"convert", "--name", "Registry.example.com/App", "localhost:1/app:v1"}, 2, "--name"},
		{[]string{"convert", "--name", "app:", "localhost:1/app:v1"}, 2, "--name"},
	}
	for _, tt := range tests {
		_, errOut, code := affix(t, tt.args...)
		if code != tt.code || !strings.Contains(errOut, tt.msg) {
			t.Errorf("%v: exit %d, %q; want %d and %q", tt.args, code, errOut, tt.code, tt.msg)
		}
	}
	// A single manifest holds no attestation manifest: nothing to convert.
	reg := registrytest.Start(t, registrytest.OlaregAPI, registrytest.Options{})
	res := pushBuildKitStyle(t, reg, "app")
	ref := reg.Ref("app") + "@" + res.Manifests[0].Digest.String()
	out, errOut, code := affix(t, "convert", "--insecure-registry", reg.Host, ref)
	if code != 0 || !strings.HasPrefix(out, "nothing to convert in "+ref+": the image is a single manifest, not an index: it has no BuildKit attestation manifest\n") {
		t.Errorf("single manifest: exit %d, %q, %q", code, out, errOut)
	}
}

// TestWarnUnnamed: an SBOM written without naming its image is a warning
// on stderr; named ones, ones already there and platforms without an SBOM
// are not.
func TestWarnUnnamed(t *testing.T) {
	ref := &referrerMeta{Digest: digest.Digest("sha256:" + strings.Repeat("b", 64))}
	m := &convertMetadata{Platforms: []convertPlatform{
		{Platform: "linux/amd64", Digest: digest.Digest("sha256:" + strings.Repeat("a", 64)), Referrer: ref},
		{Platform: "linux/arm64", Digest: digest.Digest("sha256:" + strings.Repeat("c", 64)), Referrer: ref, Named: true},
		{Platform: "linux/arm/v7", Digest: digest.Digest("sha256:" + strings.Repeat("d", 64)), Referrer: ref, Existed: true},
		{Platform: "linux/s390x", Digest: digest.Digest("sha256:" + strings.Repeat("e", 64))},
	}}
	var b strings.Builder
	warnUnnamed(NewWarnf("docker affix", &b), "docker affix", m)
	if got := b.String(); strings.Count(got, "docker affix: warning: ") != 1 || !strings.Contains(got, "`docker affix get --verify`") || !strings.Contains(got, "linux/amd64") || !strings.Contains(got, strings.Repeat("a", 64)) {
		t.Errorf("warnings:\n%s", got)
	}
}

// TestCheckName: --name takes what REF takes; a name no registry could
// hold is a usage error.
func TestCheckName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"", true},
		{"app", true},
		{"registry.example.com:5000/team/app", true},
		{"registry.example.com/app:1.0", true},
		{"registry.example.com/app@sha256:" + strings.Repeat("a", 64), true},
		{"BAD NAME", false},
		{"Registry.example.com/App", false},
		{"app:", false},
		{"app@sha256:abc", false},
		{"/app", false},
	}
	for _, tt := range tests {
		err := checkName(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("checkName(%q) = %v, want ok %v", tt.name, err, tt.ok)
		}
		if err != nil && (exitCode(err, nil) != 2 || !strings.Contains(err.Error(), "--name")) {
			t.Errorf("checkName(%q): exit %d, %v; want a usage error naming --name", tt.name, exitCode(err, nil), err)
		}
	}
}

func TestTagAndDigest(t *testing.T) {
	d := "sha256:" + strings.Repeat("a", 64)
	tests := []struct {
		ref, tag string
		digest   digest.Digest
	}{
		{"localhost:5000/app:v1@" + d, "v1", digest.Digest(d)},
		{"localhost:5000/app@" + d, "", ""},
		{"localhost:5000/app:v1", "", ""},
		{"app", "", ""},
		{"BAD NAME", "", ""},
	}
	for _, tt := range tests {
		if tag, dg := tagAndDigest(tt.ref); tag != tt.tag || dg != tt.digest {
			t.Errorf("tagAndDigest(%q) = %q, %q; want %q, %q", tt.ref, tag, dg, tt.tag, tt.digest)
		}
	}
	if got := withDigest("r/app@"+d, digest.Digest(d)); got != "r/app@"+d {
		t.Errorf("withDigest by digest: %s", got)
	}
	if got := withDigest("r/app:v1", digest.Digest(d)); got != "r/app:v1@"+d {
		t.Errorf("withDigest by tag: %s", got)
	}
}

// TestPrintNothing: an index without attestation manifests is "nothing
// to convert", with each platform's SBOM referrers or their absence.
func TestPrintNothing(t *testing.T) {
	d := func(c string) digest.Digest { return digest.Digest("sha256:" + strings.Repeat(c, 64)) }
	m := &convertMetadata{Reference: "r/app:v1", Index: d("0"), Platforms: []convertPlatform{
		{Platform: "linux/amd64", Digest: d("a"), SBOMReferrers: []referrerMeta{{Digest: d("b"), ArtifactType: oci.MediaTypeSPDX}}},
		{Platform: "linux/arm64", Digest: d("c")},
	}}
	var b strings.Builder
	printConvert(&b, m)
	got := b.String()
	for _, want := range []string{"nothing to convert in r/app:v1@" + d("0").String(), "SBOM referrer  " + d("b").String() + " application/spdx+json", "no SBOM referrer\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "converted") {
		t.Errorf("says converted:\n%s", got)
	}
	// One attestation is something to convert.
	m.Platforms[1].Attestation = d("e")
	b.Reset()
	printConvert(&b, m)
	if !strings.HasPrefix(b.String(), "converted r/app:v1@") {
		t.Errorf("with an attestation:\n%s", b.String())
	}
}

// TestWarnOtherForms: one warning per other form of a platform's SBOM,
// naming both referrers.
func TestWarnOtherForms(t *testing.T) {
	d := func(c string) digest.Digest { return digest.Digest("sha256:" + strings.Repeat(c, 64)) }
	m := &convertMetadata{Platforms: []convertPlatform{
		{Platform: "linux/amd64", Digest: d("a"), Referrer: &referrerMeta{Digest: d("b")}, OtherForms: []referrerMeta{{Digest: d("c"), ArtifactType: oci.MediaTypeSPDX}}},
		{Platform: "linux/arm64", Digest: d("d"), Referrer: &referrerMeta{Digest: d("e")}},
		{Platform: "linux/s390x", Digest: d("f")},
	}}
	var b strings.Builder
	warnOtherForms(NewWarnf("docker affix", &b), "docker affix", m)
	got := b.String()
	if strings.Count(got, "docker affix: warning: ") != 1 || !strings.Contains(got, "linux/amd64") || !strings.Contains(got, d("c").String()) || !strings.Contains(got, d("b").String()) || !strings.Contains(got, "docker affix get --verify") {
		t.Errorf("warnings:\n%s", got)
	}
}

// TestConvertDocsStripAfterBuildx: a documented `docker buildx build
// --push` followed by `affix convert --strip-attestations` must turn off
// buildx's default provenance attestation (--provenance=false) or strip
// with --drop-unconverted: otherwise convert refuses to strip
// (ErrUnconverted), and the example fails as written.
func TestConvertDocsStripAfterBuildx(t *testing.T) {
	docs, err := filepath.Glob("../../docs/*.md")
	if err != nil || len(docs) == 0 {
		t.Fatalf("docs: %v %v", docs, err)
	}
	docs = append(docs, "../../README.md")
	checked := 0
	for _, doc := range docs {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for i, block := range strings.Split(string(b), "```")[1:] {
			if i%2 == 1 { // text between two blocks
				continue
			}
			var buildx string
			var noProvenance bool
			for _, cmd := range strings.Split(strings.ReplaceAll(block, "\\\n", " "), "\n") {
				f := strings.Fields(cmd)
				has := func(s string) bool { return slices.Contains(f, s) }
				switch {
				case strings.HasPrefix(cmd, "docker buildx build") && has("--push"):
					buildx, noProvenance = cmd, has("--provenance=false")
				case strings.HasPrefix(cmd, "affix convert") && has("--strip-attestations") && buildx != "":
					checked++
					if !noProvenance && !has("--drop-unconverted") {
						t.Errorf("%s: %q\nafter %q\nis refused: buildx adds a provenance attestation on push; add --provenance=false to buildx or --drop-unconverted to convert", doc, cmd, buildx)
					}
				}
			}
		}
	}
	if checked == 0 {
		t.Error("no buildx example followed by affix convert --strip-attestations found; docs/ci.md has one")
	}
}

// TestConvertPrintUnconverted: the statements convert did not publish are
// printed as convert.Statement says them (the same words as the
// refusal), except the other targets' SBOMs (Statement.Extra), which the
// count line covers, whatever their What says; one with a Reason gets its
// own line instead, and is not counted.
func TestConvertPrintUnconverted(t *testing.T) {
	d := func(c string) digest.Digest { return digest.Digest("sha256:" + strings.Repeat(c, 64)) }
	stmt := func(st convert.Statement) convertStatement {
		return convertStatement{Layer: st.Layer.Digest, PredicateType: st.PredicateType, What: st.What, st: st}
	}
	prov := convert.Statement{Layer: ocispec.Descriptor{MediaType: "application/vnd.in-toto+json", Digest: d("7")}, PredicateType: "https://slsa.dev/provenance/v0.2", What: "SLSA provenance"}
	odd := convert.Statement{Layer: ocispec.Descriptor{MediaType: "application/octet-stream", Digest: d("9")}}
	extra := convert.Statement{Layer: ocispec.Descriptor{Digest: d("8")}, PredicateType: convert.PredicateSPDX, What: "a stage's SBOM, in other words", Extra: true}
	badExtra := convert.Statement{Layer: ocispec.Descriptor{Digest: d("6")}, PredicateType: convert.PredicateSPDX, What: "SBOM of another build stage or the build context", Extra: true, Reason: `spdxVersion "SPDX-3.0" is not SPDX 2.x`}
	m := &convertMetadata{Reference: "r/app:v1", Index: d("0"), Platforms: []convertPlatform{{
		Platform: "linux/amd64", Digest: d("a"), Attestation: d("e"), Extras: 2,
		Unconverted: []convertStatement{stmt(prov), stmt(extra), stmt(badExtra), stmt(odd)},
	}}}
	var b strings.Builder
	printConvert(&b, m)
	got := b.String()
	for _, want := range []string{
		"not published, left in the index: " + prov.String() + "\n",
		"not published, left in the index: " + odd.String() + "\n",
		"not published, left in the index: " + badExtra.String() + "\n",
		"    1 SBOM(s) of other build stages or the context not published\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	// A stage's SBOM with a reason is on its own line, not also counted,
	// and says "not published" once.
	if strings.Count(got, "not published") != 4 || strings.Count(got, d("6").String()) != 1 {
		t.Errorf("the malformed stage's SBOM is counted or worded twice:\n%s", got)
	}
	if strings.Contains(got, d("8").String()) || strings.Contains(got, extra.What) {
		t.Errorf("the extra SBOM is listed beside its count:\n%s", got)
	}
}

// TestConvertPrintUnconvertedEscapes: a predicate type, media type or
// reason an attestation carries is printed escaped, on one line: no
// escape sequence reaches the terminal, no newline forges a line.
func TestConvertPrintUnconvertedEscapes(t *testing.T) {
	const bad = "\x1b[2J\x1b]0;title\x07\nconverted evil\u202e"
	dg := digest.Digest("sha256:" + strings.Repeat("7", 64))
	for _, st := range []convert.Statement{
		{Layer: ocispec.Descriptor{MediaType: "application/vnd.in-toto+json", Digest: dg}, PredicateType: bad},
		{Layer: ocispec.Descriptor{MediaType: "text/" + bad, Digest: dg}},
		{Layer: ocispec.Descriptor{MediaType: "application/vnd.in-toto+json", Digest: dg}, PredicateType: convert.PredicateSPDX, Reason: bad},
	} {
		m := &convertMetadata{Reference: "r/app:v1", Index: dg, Platforms: []convertPlatform{{
			Platform: "linux/amd64", Digest: dg, Attestation: dg,
			Unconverted: []convertStatement{{Layer: st.Layer.Digest, PredicateType: st.PredicateType, Reason: st.Reason, st: st}},
		}}}
		var b strings.Builder
		printConvert(&b, m)
		got := b.String()
		if strings.ContainsAny(got, "\x1b\x07\u202e") || strings.Contains(got, "\nconverted evil") || !strings.Contains(got, `\x1b[2J`) {
			t.Errorf("%+v printed unescaped:\n%q", st, got)
		}
	}
}

// TestConvertMetadataUnmatched: an attestation manifest for a manifest
// the index does not list (here: its platform entry taken out) is named
// in --metadata-file with the manifest it is for, beside the platform
// that converts.
func TestConvertMetadataUnmatched(t *testing.T) {
	cliEnv(t)
	ctx := context.Background()
	reg := registrytest.Start(t, registrytest.OlaregAPI, registrytest.Options{})
	res := pushBuildKitStyle(t, reg, "app")
	r, err := exporter.NewRemote(registry.Reference{Registry: reg.Host, Repository: "app"}, exporter.RemoteOptions{PlainHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	_, b, _, err := r.FetchManifest(ctx, "v1")
	if err != nil {
		t.Fatal(err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	gone := res.Manifests[1].Digest
	idx.Manifests = slices.DeleteFunc(idx.Manifests, func(d ocispec.Descriptor) bool { return d.Digest == gone })
	nb, err := json.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.PushManifest(ctx, oci.DescriptorFor(ocispec.MediaTypeImageIndex, nb), nb, "v2", ""); err != nil {
		t.Fatal(err)
	}
	meta := filepath.Join(t.TempDir(), "meta.json")
	if _, errs, code := affix(t, "convert", "--insecure-registry", reg.Host, "--metadata-file", meta, reg.Ref("app")+":v2"); code != 0 {
		t.Fatalf("exit %d:\n%s", code, errs)
	}
	var m struct {
		Unmatched    []digest.Digest                  `json:"unmatchedAttestations"`
		UnmatchedFor map[digest.Digest]digest.Digest  `json:"unmatchedFor"`
		Platforms    []struct{ Digest digest.Digest } `json:"platforms"`
	}
	data, err := os.ReadFile(meta)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	att := res.Attestations[1].Digest
	if len(m.Unmatched) != 1 || m.Unmatched[0] != att || m.UnmatchedFor[att] != gone || len(m.Platforms) != 1 {
		t.Errorf("metadata %s: want attestation %s unmatched, for %s, and one platform", data, att, gone)
	}
}

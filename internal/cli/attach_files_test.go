package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/oci"
)

// TestSplitFileArg: FILE:MEDIATYPE splits at the last colon before a
// media type, unless the whole argument is a file whose path has a colon
// and a slash after it.
func TestSplitFileArg(t *testing.T) {
	dir := t.TempDir()
	timed := filepath.Join(dir, "2024-01-01T10:00", "vex.json")
	if err := os.MkdirAll(filepath.Dir(timed), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(timed, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ arg, path, mt string }{
		{"vex.json", "vex.json", ""},
		{"vex.json:application/vnd.example+json", "vex.json", "application/vnd.example+json"},
		{"C:notes.txt", "C:notes.txt", ""},
		{":text/plain", ":text/plain", ""},
		{timed, timed, ""},
		{timed + ":text/plain", timed, "text/plain"},
	} {
		if path, mt := splitFileArg(tt.arg); path != tt.path || mt != tt.mt {
			t.Errorf("splitFileArg(%q) = %q, %q; want %q, %q", tt.arg, path, mt, tt.path, tt.mt)
		}
	}
}

// TestDescribedElsewhere: an SPDX, CycloneDX or syft JSON file attached
// to a manifest that it does not describe is a warning naming the file,
// the digest it describes and the subject; a document that describes the
// subject, or whose image cannot be told (another tool's, by name only;
// not JSON), and any other artifact type, give none.
func TestDescribedElsewhere(t *testing.T) {
	amd := oci.Image{Descriptor: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("amd"), Size: 1,
		Platform: &ocispec.Platform{OS: "linux", Architecture: "amd64"}}}
	arm := digest.FromString("arm")
	purl := func(d digest.Digest) string { return "pkg:oci/app@" + d.Algorithm().String() + "%3A" + d.Encoded() }
	spdx := func(d digest.Digest) string {
		return `{"spdxVersion":"SPDX-2.3","documentDescribes":["SPDXRef-image"],"packages":[{"SPDXID":"SPDXRef-image","externalRefs":[{"referenceType":"purl","referenceLocator":"` + purl(d) + `"}]}]}`
	}
	cdx := func(d digest.Digest) string {
		return `{"bomFormat":"CycloneDX","metadata":{"component":{"purl":"` + purl(d) + `"}}}`
	}
	syft := func(d digest.Digest) string {
		return `{"source":{"type":"image","metadata":{"manifestDigest":"` + d.String() + `"}}}`
	}
	want := "arm64.spdx.json describes the image " + arm.String() + ", not the manifest it is attached to, " + amd.Descriptor.Digest.String() + " (linux/amd64): tools that read the referrers without checking (Trivy) will take it for that manifest's SBOM (affix get skips it when the image it names is another of the index)"
	for _, tt := range []struct {
		name, artifactType, doc string
		file                    string
		want                    string
	}{
		{"SPDX of another image", oci.MediaTypeSPDX, spdx(arm), "arm64.spdx.json", want},
		{"SPDX, file with a media type", oci.MediaTypeSPDX, spdx(arm), "arm64.spdx.json:application/spdx+json", want},
		{"CycloneDX of another image", oci.MediaTypeCycloneDX, cdx(arm), "arm64.spdx.json", want},
		{"syft JSON of another image", oci.MediaTypeSyftJSON, syft(arm), "arm64.spdx.json", want},
		{"older SPDX type", "text/spdx+json", spdx(arm), "arm64.spdx.json", want},
		{"SPDX of the subject", oci.MediaTypeSPDX, spdx(amd.Descriptor.Digest), "amd64.spdx.json", ""},
		{"CycloneDX of the subject", oci.MediaTypeCycloneDX, cdx(amd.Descriptor.Digest), "amd64.cdx.json", ""},
		{"SPDX naming the image by name only", oci.MediaTypeSPDX, `{"spdxVersion":"SPDX-2.3","documentDescribes":["SPDXRef-image"],"packages":[{"SPDXID":"SPDXRef-image","name":"app:1"}]}`, "other.spdx.json", ""},
		{"CycloneDX naming the image by name only", oci.MediaTypeCycloneDX, `{"bomFormat":"CycloneDX","metadata":{"component":{"name":"app","version":"1"}}}`, "other.cdx.json", ""},
		{"not JSON", oci.MediaTypeSPDX, "SPDXVersion: SPDX-2.3", "tv.spdx", ""},
		{"digest of another algorithm", oci.MediaTypeSPDX, spdx(digest.SHA512.FromString("amd")), "sha512.spdx.json", ""},
		{"not an SBOM type", "application/vnd.example.vex+json", spdx(arm), "vex.json", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := exporter.Artifact{ArtifactType: tt.artifactType, Blobs: []exporter.Blob{{Data: []byte(tt.doc)}}}
			if got := describedElsewhere(a, []string{tt.file}, amd); got != tt.want {
				t.Errorf("describedElsewhere = %q, want %q", got, tt.want)
			}
		})
	}
	// A single image's manifest, read by reference, has no platform: the
	// warning names none rather than "unknown".
	single := oci.Image{Descriptor: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: amd.Descriptor.Digest, Size: 1}}
	a := exporter.Artifact{ArtifactType: oci.MediaTypeSPDX, Blobs: []exporter.Blob{{Data: []byte(spdx(arm))}}}
	if got, want := describedElsewhere(a, []string{"arm64.spdx.json"}, single), strings.Replace(want, " (linux/amd64)", "", 1); got != want {
		t.Errorf("single image: describedElsewhere = %q, want %q", got, want)
	}
}

// TestAttachWarnsDescribedElsewhere: affix attach of an SPDX document of
// the arm64 image to the amd64 manifest attaches it (exit 0) with a
// warning naming the file, the image it describes and the subject; the
// amd64 document attaches without one.
func TestAttachWarnsDescribedElsewhere(t *testing.T) {
	cliEnv(t)
	sbomEnv(t)
	dir, res := variantsPair(t)
	src := oci.SchemeLayout + ":" + dir
	amd, arm := res.Manifests[0].Digest, res.Manifests[1].Digest
	armDoc := writeFile(t, "arm64.spdx.json", []byte(mustAffix(t, "sbom", "--platform", "linux/arm64", src)))
	amdDoc := writeFile(t, "amd64.spdx.json", []byte(mustAffix(t, "sbom", "--platform", "linux/amd64", src)))
	out, errs, code := affix(t, "attach", "--artifact-type", oci.MediaTypeSPDX, "--platform", "linux/amd64", src, armDoc)
	if want := "affix: warning: " + armDoc + " describes the image " + arm.String() + ", not the manifest it is attached to, " + amd.String() + " (linux/amd64)"; code != 0 || strings.TrimSpace(out) == "" || !strings.Contains(errs, want) {
		t.Errorf("attach of the arm64 SBOM to amd64: exit %d, stdout %q, stderr %q; want it attached with %q", code, out, errs, want)
	}
	out, errs, code = affix(t, "attach", "--artifact-type", oci.MediaTypeSPDX, "--platform", "amd64", src, amdDoc)
	if code != 0 || strings.TrimSpace(out) == "" || strings.Contains(errs, "describes") {
		t.Errorf("attach of the amd64 SBOM to amd64: exit %d, stdout %q, stderr %q; want it attached without a warning", code, out, errs)
	}
}

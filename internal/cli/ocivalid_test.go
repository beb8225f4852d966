package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/cli"
	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/ocitest"
)

// ovAffix runs affix in-process and fails the test unless it exits 0.
func ovAffix(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := cli.Run(context.Background(), "affix", args, &out, &errb); code != 0 {
		t.Fatalf("affix %s: exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errb.String())
	}
	return out.String()
}

// ovEnv isolates Docker credentials and the SBOM cache.
func ovEnv(t *testing.T) {
	t.Helper()
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	t.Setenv("AFFIX_CACHE_DIR", t.TempDir())
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
}

// TestCLIDocumentsValid runs the commands that write OCI documents end to
// end and validates what they wrote: affix attach into an oci-layout:
// directory (SBOMs, then a file artifact on one platform, then a
// signature-like artifact on an SBOM: ocitest.Layout checks index.json,
// every manifest and each referrers tag index), then affix push of that
// layout, with its referrers, to a registry with and without the
// referrers API (every manifest PUT, ocitest.Recorder; the tag read back,
// ocitest.Tree; each platform's referrers, ocitest.ReferrersIndex).
func TestCLIDocumentsValid(t *testing.T) {
	if testing.Short() {
		t.Skip("scans images and runs registries")
	}
	ovEnv(t)
	dir := t.TempDir()
	res, err := fixture.WriteLayout(dir, fixture.VariantsPair())
	if err != nil {
		t.Fatal(err)
	}
	src := "oci-layout:" + dir
	ovAffix(t, "attach", "--sbom-format", "spdx-json", "--sbom-format", "cyclonedx-json", src)
	if err := ocitest.Layout(t.Context(), dir); err != nil {
		t.Errorf("layout after attach (SBOMs):\n%v", err)
	}
	notes := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(notes, []byte("notes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	vex := filepath.Join(t.TempDir(), "vex.json")
	if err := os.WriteFile(vex, []byte(`{"vex":true}`), 0o644); err != nil {
		t.Fatal(err)
	}
	d := strings.TrimSpace(ovAffix(t, "attach", "--artifact-type", "application/vnd.example.bundle", "--platform", "linux/amd64",
		"--annotation", "com.example.k=v", src, notes+":text/plain", vex+":application/vnd.example.vex+json"))
	ovAffix(t, "attach", "--artifact-type", "application/vnd.example.sig", src+"@"+d, notes)
	if err := ocitest.Layout(t.Context(), dir); err != nil {
		t.Errorf("layout after attach (files):\n%v", err)
	}

	for _, api := range []bool{true, false} {
		t.Run(map[bool]string{true: "push api", false: "push tag-schema"}[api], func(t *testing.T) {
			host, rec := ocitest.RecordedOlareg(t, api)
			ovAffix(t, "push", "--insecure-registry", host, src, host+"/app:v1")
			if err := rec.Check(); err != nil {
				t.Errorf("manifests as pushed:\n%v", err)
			}
			fetch := ocitest.RegistryFetch(host, "app")
			root, _, err := ocitest.GetManifest(t.Context(), host, "app", "v1")
			if err != nil {
				t.Fatal(err)
			}
			if err := ocitest.Tree(t.Context(), fetch, root); err != nil {
				t.Errorf("the image as read back:\n%v", err)
			}
			for _, m := range res.Manifests {
				tag := exporter.ReferrersTag(m.Digest)
				if api {
					tag = ""
				}
				data, err := ocitest.GetReferrersListing(t.Context(), host, "app", m.Digest, tag)
				if err != nil {
					t.Fatal(err)
				}
				if err := ocitest.ReferrersIndex(t.Context(), fetch, m.Digest, data); err != nil {
					t.Errorf("referrers of %s as read back:\n%v", m.Digest, err)
				}
			}
		})
	}
}

// TestAttachCreatedRFC3339: affix attach --annotation
// org.opencontainers.image.created=VALUE refuses a VALUE that is not an
// RFC 3339 date-time (its help says it must be one) rather than write it
// into a referrer manifest: image-spec annotations.md wants RFC 3339,
// whose section 5.6 has no comma before the fraction of a second.
func TestAttachCreatedRFC3339(t *testing.T) {
	ovEnv(t)
	dir := t.TempDir()
	if _, err := fixture.WriteLayout(dir, fixture.VariantsPair()); err != nil {
		t.Fatal(err)
	}
	note := filepath.Join(t.TempDir(), "note.txt")
	if err := os.WriteFile(note, []byte("note\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := cli.Run(context.Background(), "affix", []string{"attach", "--artifact-type", "application/vnd.example.note", "--platform", "linux/amd64",
		"--annotation", "org.opencontainers.image.created=2024-01-02T03:04:05,5Z", "oci-layout:" + dir, note}, &out, &errb)
	if code == 2 {
		return // refused as a usage error
	}
	if code != 0 {
		t.Fatalf("attach: exit %d\n%s", code, errb.String())
	}
	if err := ocitest.Layout(t.Context(), dir); err != nil {
		t.Fatalf("OCI violation: %v", err)
	}
}

package integration

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/registrytest"
	"github.com/affix-oci/affix/internal/trivydb"
)

// trivyAdvisories are the advisories of the fixture vulnerability
// database: each filed, as Debian's and Alpine's security trackers file
// them, under a source package. Only tzdata is its own source; libc6,
// zlib1g and libcrypto3 are found only by a scanner that reads their
// source package from the SBOM.
var trivyAdvisories = []trivydb.Advisory{
	{Release: "debian 12", Package: "glibc", ID: "CVE-2099-0001", Fixed: "2.36-9+deb12u99", Severity: "HIGH"},
	{Release: "debian 12", Package: "zlib", ID: "CVE-2099-0002", Fixed: "1:1.2.13.dfsg-2", Severity: "CRITICAL"},
	{Release: "debian 12", Package: "tzdata", ID: "CVE-2099-0003", Fixed: "2025a-0", Severity: "LOW"},
	{Release: "debian 12", Package: "glibc", ID: "CVE-2099-0004", Fixed: "2.36-9+deb12u1", Severity: "HIGH"}, // fixed before the installed version
	{Release: "alpine 3.20", Package: "openssl", ID: "CVE-2099-0005", Fixed: "3.3.3-r0", Severity: "HIGH"},
}

// trivyWant is what Trivy must report per platform of the Standard
// fixture: vulnerability ID and the installed (binary) package.
var trivyWant = map[string][][2]string{
	"linux/amd64": {{"CVE-2099-0001", "libc6"}, {"CVE-2099-0002", "zlib1g"}, {"CVE-2099-0003", "tzdata"}},
	"linux/arm64": {{"CVE-2099-0005", "libcrypto3"}},
}

// TestTrivyVulnerabilities: Trivy, finding affix's SBOM referrer of a
// platform manifest (`trivy image --sbom-sources oci`), reports the
// vulnerabilities of its OS packages from a vulnerability database,
// including those filed under a source package other than the binary
// one (glibc for libc6, Alpine's origin openssl for libcrypto3), in SPDX
// and in CycloneDX, through the referrers API and the referrers tag.
func TestTrivyVulnerabilities(t *testing.T) {
	trivy := toolBin(t, "trivy")
	cache := t.TempDir()
	if err := trivydb.Write(cache, trivyAdvisories); err != nil {
		t.Fatal(err)
	}
	spec, err := fixture.Standard(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	layout := filepath.Join(t.TempDir(), "layout")
	res, err := fixture.WriteLayout(layout, spec)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	for _, k := range []registrytest.Kind{registrytest.OlaregAPI, registrytest.OlaregNoAPI} {
		reg := registry(t, k)
		for _, f := range []string{"spdx-json", "cyclonedx-json"} {
			t.Run(string(k)+"/"+f, func(t *testing.T) {
				repo := "vulns-" + f
				e.ok(t, "push", "--insecure-registry", reg.Host, "--sbom-format", f, "oci-layout:"+layout, reg.Ref(repo+":v1"))
				for _, m := range res.Manifests {
					p := m.Platform.OS + "/" + m.Platform.Architecture
					got := trivyVulnerabilities(t, trivy, cache, reg.Ref(repo+"@"+m.Digest.String()))
					if want := trivyWant[p]; !slices.Equal(got, want) {
						t.Errorf("%s: trivy reports %v, want %v", p, got, want)
					}
				}
			})
		}
	}
}

// trivyVulnerabilities runs Trivy's vulnerability scan of image through
// its OCI SBOM referrers, with the database in cache and nothing
// downloaded, and returns the (vulnerability, package) pairs it reports,
// sorted.
func trivyVulnerabilities(t *testing.T, trivy, cache, image string) [][2]string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), trivy, "image", "--cache-dir", cache, "--image-src", "remote",
		"--sbom-sources", "oci", "--scanners", "vuln", "--skip-db-update", "--offline-scan",
		"--skip-version-check", "--disable-telemetry", "--format", "json", image)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("trivy image %s: %v\n%s", image, err, tail(errb.String(), 4000))
	}
	var report struct {
		Results []struct {
			Vulnerabilities []struct{ VulnerabilityID, PkgName string }
		}
	}
	if err := json.Unmarshal(out.Bytes(), &report); err != nil {
		t.Fatalf("trivy output: %v\n%s", err, tail(out.String(), 2000))
	}
	var got [][2]string
	for _, r := range report.Results {
		for _, v := range r.Vulnerabilities {
			got = append(got, [2]string{v.VulnerabilityID, v.PkgName})
		}
	}
	slices.SortFunc(got, func(a, b [2]string) int { return strings.Compare(a[0]+" "+a[1], b[0]+" "+b[1]) })
	if len(got) == 0 || !bytes.Contains(errb.Bytes(), []byte("Found SBOM in the OCI referrers")) {
		t.Logf("trivy log:\n%s", tail(errb.String(), 3000))
	}
	return got
}

package sbomgen

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestSourcePackage(t *testing.T) {
	for _, c := range []struct {
		name, purl string
		want       srcPkg // zero: none
		full       string
	}{
		{"deb source without version", "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&upstream=glibc&distro=debian-12",
			srcPkg{name: "glibc", version: "2.36", release: "9+deb12u4"}, "2.36-9+deb12u4"},
		{"deb source with its own version (binNMU)", "pkg:deb/debian/libc6@2.36-9%2Bb1?arch=amd64&upstream=glibc%402.36-9&distro=debian-12",
			srcPkg{name: "glibc", version: "2.36", release: "9"}, "2.36-9"},
		{"deb epoch", "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64&upstream=zlib&distro=debian-12",
			srcPkg{name: "zlib", epoch: 1, version: "1.2.13.dfsg", release: "1"}, "1:1.2.13.dfsg-1"},
		{"deb native version", "pkg:deb/debian/libfoo@12.4?upstream=foo",
			srcPkg{name: "foo", version: "12.4"}, "12.4"},
		{"deb upstream version with hyphens", "pkg:deb/ubuntu/libx@1.0-beta-2ubuntu1?upstream=x",
			srcPkg{name: "x", version: "1.0-beta", release: "2ubuntu1"}, "1.0-beta-2ubuntu1"},
		{"deb its own source", "pkg:deb/debian/tzdata@2024a-0?arch=all&distro=debian-12", srcPkg{}, ""},
		{"apk origin", "pkg:apk/alpine/libcrypto3@3.3.2-r0?arch=aarch64&upstream=openssl&distro=alpine-3.20.3",
			srcPkg{name: "openssl", version: "3.3.2-r0"}, "3.3.2-r0"},
		{"rpm source rpm", "pkg:rpm/redhat/openssl-libs@3.0.7-27.el9?arch=x86_64&epoch=1&upstream=openssl-3.0.7-27.el9.src.rpm&distro=rhel-9.3",
			srcPkg{name: "openssl", epoch: 1, version: "3.0.7", release: "27.el9"}, "1:3.0.7-27.el9"},
		{"rpm hyphenated name", "pkg:rpm/fedora/python3-libs@3.12.1-1.fc39?upstream=python3.12-3.12.1-1.fc39.src.rpm",
			srcPkg{name: "python3.12", version: "3.12.1", release: "1.fc39"}, "3.12.1-1.fc39"},
		{"rpm upstream not a source rpm", "pkg:rpm/redhat/x@1-1?upstream=x", srcPkg{}, ""},
		{"rpm upstream too short", "pkg:rpm/redhat/x@1-1?upstream=x-1.src.rpm", srcPkg{}, ""},
		{"language package", "pkg:npm/left-pad@1.3.0?upstream=x", srcPkg{}, ""},
		{"not a purl", "cpe:2.3:a:x:x:1:*:*:*:*:*:*:*", srcPkg{}, ""},
		{"empty", "", srcPkg{}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, ok := sourcePackage(c.purl)
			if ok != (c.want != srcPkg{}) || got != c.want {
				t.Fatalf("sourcePackage(%q) = %+v, %v; want %+v", c.purl, got, ok, c.want)
			}
			if ok && got.fullVersion() != c.full {
				t.Errorf("fullVersion = %q, want %q", got.fullVersion(), c.full)
			}
		})
	}
}

// TestSbomSourcePackages: the OS packages of the Standard fixture built
// from another source package (libc6 from glibc, zlib1g from zlib,
// Alpine's libcrypto3 from openssl) name it where Trivy reads it, in both
// formats; the others keep syft's sourceInfo and get no property.
func TestSbomSourcePackages(t *testing.T) {
	dir, res := standard(t)
	for i, want := range []map[string][2]string{
		{"libc6": {"glibc", "2.36-9+deb12u4"}, "zlib1g": {"zlib", "1:1.2.13.dfsg-1"}, "tzdata": {}},
		{"libcrypto3": {"openssl", "3.3.2-r0"}, "musl": {}},
	} {
		m := res.Manifests[i]
		r := scan(t, dir, m, Options{Formats: []Format{SPDXJSON, CycloneDXJSON}})
		var spdxDoc struct {
			Packages []struct{ Name, SourceInfo string }
		}
		if err := json.Unmarshal(doc(t, r, SPDXJSON), &spdxDoc); err != nil {
			t.Fatal(err)
		}
		var cdx struct {
			Components []struct {
				Name       string
				Properties []struct{ Name, Value string }
			}
		}
		if err := json.Unmarshal(doc(t, r, CycloneDXJSON), &cdx); err != nil {
			t.Fatal(err)
		}
		seen := 0
		for _, p := range spdxDoc.Packages {
			w, ok := want[p.Name]
			if !ok {
				continue
			}
			seen++
			if w[0] == "" {
				if strings.HasPrefix(p.SourceInfo, trivySourcePrefix) {
					t.Errorf("%s: SPDX %s sourceInfo %q, want syft's", m.Platform.Architecture, p.Name, p.SourceInfo)
				}
			} else if wantInfo := trivySourcePrefix + w[0] + " " + w[1]; p.SourceInfo != wantInfo {
				t.Errorf("%s: SPDX %s sourceInfo %q, want %q", m.Platform.Architecture, p.Name, p.SourceInfo, wantInfo)
			}
		}
		for _, c := range cdx.Components {
			w, ok := want[c.Name]
			if !ok {
				continue
			}
			seen++
			var name string
			for _, p := range c.Properties {
				if p.Name == trivyProperty+"SrcName" {
					name = p.Value
				}
			}
			if name != w[0] {
				t.Errorf("%s: CycloneDX %s %sSrcName %q, want %q", m.Platform.Architecture, c.Name, trivyProperty, name, w[0])
			}
		}
		if seen != 2*len(want) {
			t.Errorf("%s: found %d of the %d packages in the two documents", m.Platform.Architecture, seen, 2*len(want))
		}
	}
}

// Package manypkgs generates an OCI image layout whose one platform image
// holds many packages, for measuring how a scan's memory grows with the
// package count. It builds on internal/fixture; the same Counts always
// give the same digests.
package manypkgs

import (
	"fmt"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/fixture"
)

// Counts are how many packages of each kind the image holds.
type Counts struct {
	// Deb packages are entries of /var/lib/dpkg/status, each with an
	// info/NAME.md5sums listing FilesPerDeb files the layer holds.
	Deb int
	// FilesPerDeb is how many files each deb package owns.
	FilesPerDeb int
	// DistinctNames gives every owned file a basename of its own
	// (f000000.so, f000001.so, ...), as in real images, instead of
	// file0.so ... in each package's directory.
	DistinctNames bool
	// NPM packages are app/node_modules/NAME/package.json files.
	NPM int
	// Python packages are dist-info METADATA files.
	Python int
	// Arm64 adds a linux/arm64 image with the same layers (a different
	// config, so a different manifest), for two scans at once.
	Arm64 bool
}

// Default is about 5000 packages: 3000 deb (two files each), 1500 npm,
// 500 Python.
var Default = Counts{Deb: 3000, FilesPerDeb: 2, NPM: 1500, Python: 500}

// Spec returns a layout of one linux/amd64 Debian image (and, with
// c.Arm64, a linux/arm64 one) holding c's packages: one layer for the dpkg
// database and the files it lists, one for the npm and Python packages.
func Spec(c Counts) fixture.Spec {
	var status strings.Builder
	os := fixture.Layer{{Path: "etc/os-release", Data: []byte(fixture.DebianOSRelease)}}
	for i := range c.Deb {
		name := fmt.Sprintf("libfixture%d", i)
		fmt.Fprintf(&status, "Package: %s\nStatus: install ok installed\nPriority: optional\nSection: libs\nInstalled-Size: %d\nMaintainer: Fixture Maintainers <fixture@example.invalid>\nArchitecture: amd64\nSource: fixture-src%d\nVersion: 1.%d.%d-%d\nDepends: libc6 (>= 2.36)\nDescription: fixture package %d\n generated for a benchmark of many packages.\n\n",
			name, 100+i%900, i/10, i%100, i%7, 1+i%5, i)
		var sums strings.Builder
		for j := range c.FilesPerDeb {
			p := fmt.Sprintf("usr/lib/x86_64-linux-gnu/%s/file%d.so", name, j)
			if c.DistinctNames {
				p = fmt.Sprintf("usr/lib/x86_64-linux-gnu/%s/f%06d.so", name, i*c.FilesPerDeb+j)
			}
			data := fmt.Appendf(nil, "%s %d\n", name, j)
			os = append(os, fixture.File{Path: p, Data: data})
			fmt.Fprintf(&sums, "%032x  %s\n", i*1000+j, p)
		}
		if c.FilesPerDeb > 0 {
			os = append(os, fixture.File{Path: "var/lib/dpkg/info/" + name + ".md5sums", Data: []byte(sums.String())})
		}
	}
	os = append(os, fixture.File{Path: "var/lib/dpkg/status", Data: []byte(status.String())})
	var app fixture.Layer
	for i := range c.NPM {
		name := fmt.Sprintf("fixture-npm-%d", i)
		app = append(app, fixture.File{
			Path: "app/node_modules/" + name + "/package.json",
			Data: fmt.Appendf(nil, `{"name":%q,"version":"%d.%d.%d","license":"MIT","description":"fixture package","author":"Fixture <fixture@example.invalid>","homepage":"https://example.invalid/%s"}`+"\n", name, i%5, i%13, i%31, name),
		})
	}
	for i := range c.Python {
		name := fmt.Sprintf("fixture_py_%d", i)
		ver := fmt.Sprintf("%d.%d", 1+i%4, i%17)
		app = append(app, fixture.File{
			Path: fmt.Sprintf("usr/lib/python3/dist-packages/%s-%s.dist-info/METADATA", name, ver),
			Data: fmt.Appendf(nil, "Metadata-Version: 2.1\nName: %s\nVersion: %s\nSummary: fixture package\nLicense: Apache-2.0\n", name, ver),
		})
	}
	spec := fixture.Spec{Images: []fixture.Image{{
		Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		Layers:   []fixture.Layer{os, app},
	}}}
	if c.Arm64 {
		spec.Images = append(spec.Images, fixture.Image{
			Platform: ocispec.Platform{OS: "linux", Architecture: "arm64"},
			Layers:   []fixture.Layer{os, app},
		})
	}
	return spec
}

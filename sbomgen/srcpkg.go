package sbomgen

import (
	"strconv"
	"strings"

	cyclonedx "github.com/CycloneDX/cyclonedx-go"
	"github.com/anchore/packageurl-go"
	"github.com/spdx/tools-golang/spdx"
)

// srcPkg is the source package an OS package was built from: Debian's
// glibc for libc6, Alpine's origin openssl for libcrypto3, the source RPM
// of an RPM package.
type srcPkg struct {
	name    string
	epoch   int    // 0: none
	version string // Debian: the upstream version; RPM: VERSION; Alpine: the whole version
	release string // Debian: the revision; RPM: RELEASE; Alpine: none
}

// fullVersion returns the version as the distribution writes it:
// [EPOCH:]VERSION[-RELEASE].
func (s srcPkg) fullVersion() string {
	v := s.version
	if s.release != "" {
		v += "-" + s.release
	}
	if s.epoch != 0 {
		v = strconv.Itoa(s.epoch) + ":" + v
	}
	return v
}

// trivySourcePrefix starts the SPDX sourceInfo from which Trivy takes an
// OS package's source package ("built package from: glibc 2.36-9"), the
// form Trivy writes itself.
const trivySourcePrefix = "built package from: "

// trivyProperty prefixes the CycloneDX properties Trivy reads an OS
// package's source package from (a namespace of the CycloneDX property
// taxonomy).
const trivyProperty = "aquasecurity:trivy:"

// sourcePackage returns the source package of the OS package with the
// package URL purl, from the upstream qualifier syft writes when the
// source differs from the binary package: deb "glibc" or
// "glibc@2.36-9" (Source: glibc (2.36-9)), apk "openssl" (the origin),
// rpm "openssl-3.0.7-27.el9.src.rpm". ok is false for other packages
// and when the binary package is its own source.
//
// Vulnerability scanners match OS packages by their source package:
// Debian's and Alpine's security trackers file advisories under it, so a
// scanner that cannot tell it (Trivy reads it only from its own SPDX
// sourceInfo text and CycloneDX properties, not from the purl) misses
// every vulnerability of libc6, libssl3, zlib1g, libcrypto3...
func sourcePackage(purl string) (s srcPkg, ok bool) {
	p, err := packageurl.FromString(purl)
	if err != nil {
		return srcPkg{}, false
	}
	q := p.Qualifiers.Map()
	up := q["upstream"]
	if up == "" {
		return srcPkg{}, false
	}
	switch p.Type {
	case packageurl.TypeDebian:
		name, ver, found := strings.Cut(up, "@")
		if !found {
			ver = p.Version
		}
		s = debSource(name, ver)
	case packageurl.TypeAlpine:
		s = srcPkg{name: up, version: p.Version}
	case packageurl.TypeRPM:
		var found bool
		if s, found = rpmSource(up); !found {
			return srcPkg{}, false
		}
		// A source RPM's file name has no epoch: it is the package's
		// own, as rpm and Trivy take it.
		s.epoch, _ = strconv.Atoi(q["epoch"])
	default:
		return srcPkg{}, false
	}
	if s.name == "" || s.version == "" {
		return srcPkg{}, false
	}
	return s, true
}

// debSource splits a Debian version [EPOCH:]UPSTREAM[-REVISION].
func debSource(name, ver string) srcPkg {
	s := srcPkg{name: name}
	if e, rest, found := strings.Cut(ver, ":"); found {
		if n, err := strconv.Atoi(e); err == nil {
			s.epoch, ver = n, rest
		}
	}
	if i := strings.LastIndexByte(ver, '-'); i > 0 {
		s.version, s.release = ver[:i], ver[i+1:]
	} else {
		s.version = ver
	}
	return s
}

// rpmSource splits a source RPM file name NAME-VERSION-RELEASE.src.rpm.
func rpmSource(srpm string) (srcPkg, bool) {
	nvr, found := strings.CutSuffix(srpm, ".src.rpm")
	if !found {
		nvr, found = strings.CutSuffix(srpm, ".nosrc.rpm")
	}
	if !found {
		return srcPkg{}, false
	}
	i := strings.LastIndexByte(nvr, '-')
	if i <= 0 {
		return srcPkg{}, false
	}
	j := strings.LastIndexByte(nvr[:i], '-')
	if j <= 0 {
		return srcPkg{}, false
	}
	return srcPkg{name: nvr[:j], version: nvr[j+1 : i], release: nvr[i+1:]}, true
}

// spdxSourceInfo names, in the sourceInfo of each OS package built from
// another source package, that source package as Trivy reads it.
func spdxSourceInfo(pkgs []*spdx.Package) {
	for _, p := range pkgs {
		for _, r := range p.PackageExternalReferences {
			if r == nil || r.RefType != "purl" {
				continue
			}
			if s, ok := sourcePackage(r.Locator); ok {
				p.PackageSourceInfo = trivySourcePrefix + s.name + " " + s.fullVersion()
			}
			break
		}
	}
}

// cdxSourceProperties adds to each OS component built from another source
// package the properties Trivy reads that source package from, split as
// Trivy writes them.
func cdxSourceProperties(comps *[]cyclonedx.Component) {
	if comps == nil {
		return
	}
	for i := range *comps {
		c := &(*comps)[i]
		s, ok := sourcePackage(c.PackageURL)
		if !ok {
			continue
		}
		props := []cyclonedx.Property{
			{Name: trivyProperty + "SrcName", Value: s.name},
			{Name: trivyProperty + "SrcVersion", Value: s.version},
		}
		if s.release != "" {
			props = append(props, cyclonedx.Property{Name: trivyProperty + "SrcRelease", Value: s.release})
		}
		if s.epoch != 0 {
			props = append(props, cyclonedx.Property{Name: trivyProperty + "SrcEpoch", Value: strconv.Itoa(s.epoch)})
		}
		if c.Properties != nil {
			props = append(*c.Properties, props...)
		}
		c.Properties = &props
	}
}

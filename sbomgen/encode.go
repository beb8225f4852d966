package sbomgen

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	cyclonedx "github.com/CycloneDX/cyclonedx-go"
	"github.com/anchore/packageurl-go"
	"github.com/anchore/syft/syft/format/common/cyclonedxhelpers"
	"github.com/anchore/syft/syft/format/common/spdxhelpers"
	"github.com/anchore/syft/syft/format/syftjson"
	"github.com/anchore/syft/syft/linux"
	"github.com/anchore/syft/syft/sbom"
	"github.com/anchore/syft/syft/source"
	"github.com/google/uuid"
	"github.com/opencontainers/go-digest"
	"github.com/spdx/tools-golang/spdx"
	"github.com/spdx/tools-golang/spdx/v2/common"
)

// CycloneDXSpecVersion is the CycloneDX specification version of
// CycloneDXJSON documents.
const CycloneDXSpecVersion = "1.6"

// spdxNamespaceBase prefixes SPDX document namespaces. The namespace only
// has to be a unique URI; it is not fetched.
const spdxNamespaceBase = "https://affix-oci.github.io/affix/spdx/"

// uuidSpace is the UUIDv5 namespace of document identifiers.
var uuidSpace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://github.com/affix-oci/affix/sbom"))

// docInfo is what makes a document deterministic and names its subject.
type docInfo struct {
	name      string        // image name
	subject   digest.Digest // manifest digest; empty for a directory
	created   time.Time     // creation time
	id        string        // unique, stable identity of the document (a cache key)
	generator string        // version.Generator()
}

func (d docInfo) uuid() uuid.UUID { return uuid.NewSHA1(uuidSpace, []byte(d.id)) }

// documentName is the SPDX document name and CycloneDX component name.
func (d docInfo) documentName() string {
	if d.subject == "" {
		return d.name
	}
	return d.name + "@" + d.subject.String()
}

// purl returns the package URL of the image (ImagePURL).
func (d docInfo) purl(arch string) string {
	if d.subject == "" {
		return ""
	}
	return ImagePURL(d.name, d.subject, arch)
}

// ImagePURL returns the package URL image documents give the image with
// manifest digest manifest named name, as the purl specification has it
// for OCI images: pkg:oci/NAME@DIGEST, NAME the last path segment of the
// repository (ImageName(name)), lower case, with qualifiers arch (when not
// empty) and repository_url (when the repository has a path). The tag
// qualifier the specification allows is left out: the document describes
// the manifest, whatever tags name it.
func ImagePURL(name string, manifest digest.Digest, arch string) string {
	repo := ImageName(name)
	short := strings.ToLower(repo[strings.LastIndex(repo, "/")+1:])
	var q packageurl.Qualifiers
	if arch != "" {
		q = append(q, packageurl.Qualifier{Key: "arch", Value: arch})
	}
	if strings.Contains(repo, "/") {
		q = append(q, packageurl.Qualifier{Key: "repository_url", Value: repo})
	}
	return packageurl.NewPackageURL("oci", "", short, manifest.String(), q, "").ToString()
}

// ImageName returns the name an image's documents use for the image
// reference n: its repository, without tag or digest
// ("registry.example.com/app:1.2" is "registry.example.com/app"). An
// image's SBOM describes its manifest, so two tags of one image get the
// same documents (and push the same referrer).
func ImageName(n string) string {
	n, _, _ = strings.Cut(n, "@")
	if i := strings.LastIndex(n, ":"); i > strings.LastIndex(n, "/") {
		return n[:i]
	}
	return n
}

// encode encodes s in format f, made deterministic by d.
func encode(s *sbom.SBOM, f Format, d docInfo) ([]byte, error) {
	enc, err := newEncoder(s, f, d)
	if err != nil {
		return nil, err
	}
	return enc()
}

// encoder writes one document from the model it holds.
type encoder func() ([]byte, error)

// newEncoder builds the model of s in format f, made deterministic by d,
// and returns what writes it. The encoder does not refer to s: a caller
// done with the catalog can let it go before the document is written,
// which is when the encoding's own buffers are largest.
func newEncoder(s *sbom.SBOM, f Format, d docInfo) (encoder, error) {
	s = withDescriptor(s, d)
	switch f {
	case SPDXJSON:
		doc, err := spdxModel(s, d)
		if err != nil {
			return nil, err
		}
		return func() ([]byte, error) { return marshal(doc) }, nil
	case CycloneDXJSON:
		bom, err := cycloneDXModel(s, d)
		if err != nil {
			return nil, err
		}
		return func() ([]byte, error) { return encodeCycloneDX(bom) }, nil
	case SyftJSON:
		doc := syftjson.ToFormatModel(*s, syftjson.EncoderConfig{})
		return func() ([]byte, error) { return marshal(doc) }, nil
	}
	return nil, fmt.Errorf("format %q: %w", f, ErrUnknownFormat)
}

// toolConfig is what documents record as the generator's configuration:
// only what affects them. syft's own record holds host paths and
// environment (GOPROXY, the Maven repository directory), so it would make
// documents differ between machines.
type toolConfig struct {
	Generator  string   `json:"generator"`
	Scope      string   `json:"scope"`
	Catalogers []string `json:"catalogers"`
	Offline    bool     `json:"offline"`
}

// withDescriptor returns a shallow copy of s that names affix as its tool.
func withDescriptor(s *sbom.SBOM, d docInfo) *sbom.SBOM {
	c := *s
	name, ver, _ := strings.Cut(d.generator, "-")
	c.Descriptor = sbom.Descriptor{
		Name:    name,
		Version: ver,
		Configuration: toolConfig{
			Generator:  d.generator,
			Scope:      string(source.SquashedScope),
			Catalogers: catalogersUsed(s),
			Offline:    true,
		},
	}
	return &c
}

// catalogersUsed returns the names of the catalogers syft ran, from its
// configuration record.
func catalogersUsed(s *sbom.SBOM) []string {
	b, err := json.Marshal(s.Descriptor.Configuration)
	if err != nil {
		return nil
	}
	var rec struct {
		Catalogers struct {
			Used []string `json:"used"`
		} `json:"catalogers"`
	}
	if json.Unmarshal(b, &rec) != nil {
		return nil
	}
	slices.Sort(rec.Catalogers.Used)
	return rec.Catalogers.Used
}

// spdxDocument is an SPDX 2.3 document with the documentDescribes field
// tools-golang reads but does not write.
type spdxDocument struct {
	*spdx.Document
	DocumentDescribes []string `json:"documentDescribes,omitempty"`
}

// spdxModel returns the SPDX document of s.
func spdxModel(s *sbom.SBOM, d docInfo) (spdxDocument, error) {
	doc := spdxhelpers.ToFormatModel(*s)
	if doc == nil {
		return spdxDocument{}, fmt.Errorf("converting to SPDX")
	}
	doc.DocumentName = d.documentName()
	doc.DocumentNamespace = spdxNamespaceBase + cleanURIPath(d.name) + "-" + d.uuid().String()
	doc.CreationInfo.Created = d.created.UTC().Format(time.RFC3339)
	doc.CreationInfo.Creators = []common.Creator{{CreatorType: "Tool", Creator: d.generator}}
	spdxSourceInfo(doc.Packages)

	var describes []string
	for _, r := range doc.Relationships {
		if r.RefA.ElementRefID == "DOCUMENT" && r.Relationship == common.TypeRelationshipDescribe && r.RefB.DocumentRefID == "" {
			describes = append(describes, "SPDXRef-"+string(r.RefB.ElementRefID))
		}
	}
	root := spdxRoot(doc)
	if d.subject != "" {
		if root == nil {
			return spdxDocument{}, fmt.Errorf("SPDX document has no root package for image %s", d.subject)
		}
		// syft names the image by the manifest digest already (checksum
		// and purl); make sure, since DescribedDigest relies on it.
		root.PackageChecksums = []common.Checksum{{Algorithm: common.ChecksumAlgorithm(strings.ToUpper(d.subject.Algorithm().String())), Value: d.subject.Encoded()}}
		arch := ""
		if m, ok := s.Source.Metadata.(source.ImageMetadata); ok {
			arch = m.Architecture
		}
		root.PackageExternalReferences = []*spdx.PackageExternalReference{{Category: common.CategoryPackageManager, RefType: common.TypePackageManagerPURL, Locator: d.purl(arch)}}
		root.PackageVersion = d.subject.String()
	}

	if osPkg := spdxOSPackage(s.Artifacts.LinuxDistribution); osPkg != nil {
		doc.Packages = append(doc.Packages, osPkg)
		if root != nil {
			doc.Relationships = append(doc.Relationships, &spdx.Relationship{
				RefA:         common.MakeDocElementID("", string(root.PackageSPDXIdentifier)),
				RefB:         common.MakeDocElementID("", string(osPkg.PackageSPDXIdentifier)),
				Relationship: common.TypeRelationshipContains,
			})
		}
	}

	slices.SortStableFunc(doc.Packages, func(a, b *spdx.Package) int {
		return strings.Compare(string(a.PackageSPDXIdentifier), string(b.PackageSPDXIdentifier))
	})
	slices.SortStableFunc(doc.Files, func(a, b *spdx.File) int {
		return strings.Compare(string(a.FileSPDXIdentifier), string(b.FileSPDXIdentifier))
	})
	slices.SortStableFunc(doc.OtherLicenses, func(a, b *spdx.OtherLicense) int {
		return strings.Compare(a.LicenseIdentifier, b.LicenseIdentifier)
	})
	doc.Relationships = sortRelationships(doc.Relationships)
	return spdxDocument{Document: doc, DocumentDescribes: describes}, nil
}

// spdxPurposeOS is the SPDX 2.3 JSON primaryPackagePurpose of an
// operating system package. The spec text (clause 7.24, and tag-value)
// spells it OPERATING-SYSTEM, but the SPDX 2.3 JSON schema's enum has
// only OPERATING_SYSTEM (it takes both spellings for referenceCategory,
// not here). Validators with that schema reject the hyphen (the SPDX
// online tools, syft's copy of the schema, TestSbomSchemas); schemas
// amended to accept the hyphen keep the underscore, so it is valid with
// every one. Trivy finds the operating system by the SPDXID, not by this
// value.
const spdxPurposeOS = "OPERATING_SYSTEM"

// spdxOSPackage returns the package that names the image's Linux
// distribution (os-release ID and VERSION_ID), or nil when syft found
// none. syft writes this only into CycloneDX (an operating-system
// component); in SPDX the distribution is otherwise only a purl qualifier
// of each OS package, and Trivy, which recognises the operating system of
// an SPDX document by a package whose SPDXID starts with
// SPDXRef-OperatingSystem, would scan none of the OS packages for
// vulnerabilities ("Ignore the OS package as no OS is detected").
func spdxOSPackage(r *linux.Release) *spdx.Package {
	if r == nil || r.ID == "" {
		return nil
	}
	// A rolling release (Debian sid, Arch) has no VERSION_ID.
	id := "OperatingSystem-" + r.ID
	if r.VersionID != "" {
		id += "-" + r.VersionID
	}
	return &spdx.Package{
		PackageName:             r.ID,
		PackageSPDXIdentifier:   common.ElementID(spdxElementID(id)),
		PackageVersion:          r.VersionID,
		PackageDescription:      r.PrettyName,
		PrimaryPackagePurpose:   spdxPurposeOS,
		PackageSupplier:         &common.Supplier{Supplier: noAssertion},
		PackageDownloadLocation: noAssertion,
		PackageLicenseConcluded: noAssertion,
		PackageLicenseDeclared:  noAssertion,
		PackageCopyrightText:    noAssertion,
	}
}

// noAssertion is SPDX's "no information" value.
const noAssertion = "NOASSERTION"

// spdxElementID makes s a valid SPDX element ID (after "SPDXRef-"):
// letters, digits, '.' and '-'; anything else becomes '-'.
func spdxElementID(s string) string { return keepOnly(s, ".-") }

// keepOnly replaces every character of s that is not an ASCII letter or
// digit or in extra with '-'.
func keepOnly(s, extra string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(extra, r) {
			return r
		}
		return '-'
	}, s)
}

// sortRelationships sorts rels by relKey and drops repeats, rendering each
// key once (a comparison that rendered both keys cost most of the sort).
func sortRelationships(rels []*spdx.Relationship) []*spdx.Relationship {
	type keyed struct {
		key string
		rel *spdx.Relationship
	}
	ks := make([]keyed, len(rels))
	for i, r := range rels {
		ks[i] = keyed{relKey(r), r}
	}
	slices.SortStableFunc(ks, func(a, b keyed) int { return strings.Compare(a.key, b.key) })
	ks = slices.CompactFunc(ks, func(a, b keyed) bool { return a.key == b.key })
	out := rels[:0]
	for _, k := range ks {
		out = append(out, k.rel)
	}
	return out
}

// relKey is the sort and identity key of an SPDX relationship.
func relKey(r *spdx.Relationship) string {
	return common.RenderDocElementID(r.RefA) + " " + r.Relationship + " " + common.RenderDocElementID(r.RefB) + " " + r.RelationshipComment
}

// spdxRoot returns the package DOCUMENT DESCRIBES.
func spdxRoot(doc *spdx.Document) *spdx.Package {
	for _, r := range doc.Relationships {
		if r.RefA.ElementRefID != "DOCUMENT" || r.Relationship != common.TypeRelationshipDescribe {
			continue
		}
		for _, p := range doc.Packages {
			if p.PackageSPDXIdentifier == r.RefB.ElementRefID {
				return p
			}
		}
	}
	return nil
}

// cleanURIPath makes an image name usable as one URI path segment.
func cleanURIPath(n string) string { return keepOnly(n, "-._") }

// cycloneDXModel returns the CycloneDX BOM of s.
func cycloneDXModel(s *sbom.SBOM, d docInfo) (*cyclonedx.BOM, error) {
	bom := cyclonedxhelpers.ToFormatModel(*s)
	bom.SerialNumber = d.uuid().URN()
	cdxSourceProperties(bom.Components)
	if bom.Metadata == nil {
		bom.Metadata = &cyclonedx.Metadata{}
	}
	md := bom.Metadata
	md.Timestamp = d.created.UTC().Format(time.RFC3339)
	name, ver, _ := strings.Cut(d.generator, "-")
	md.Tools = &cyclonedx.ToolsChoice{Components: &[]cyclonedx.Component{{
		Type:    cyclonedx.ComponentTypeApplication,
		Name:    name,
		Version: ver,
	}}}
	if md.Component == nil {
		md.Component = &cyclonedx.Component{Type: cyclonedx.ComponentTypeFile}
	}
	md.Component.Name = d.name
	if d.subject != "" {
		arch := ""
		if m, ok := s.Source.Metadata.(source.ImageMetadata); ok {
			arch = m.Architecture
		}
		md.Component.Type = cyclonedx.ComponentTypeContainer
		md.Component.Version = d.subject.String()
		md.Component.PackageURL = d.purl(arch)
		if alg, ok := cdxHashAlgorithms[d.subject.Algorithm().String()]; ok {
			md.Component.Hashes = &[]cyclonedx.Hash{{Algorithm: alg, Value: d.subject.Encoded()}}
		}
	}
	return bom, nil
}

// encodeCycloneDX writes bom as CycloneDXSpecVersion JSON.
func encodeCycloneDX(bom *cyclonedx.BOM) ([]byte, error) {
	ver16, err := cdxSpecVersion(CycloneDXSpecVersion)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := cyclonedx.NewBOMEncoder(&buf, cyclonedx.BOMFileFormatJSON)
	enc.SetPretty(false)
	enc.SetEscapeHTML(false)
	if err := enc.EncodeVersion(bom, ver16); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

var cdxHashAlgorithms = map[string]cyclonedx.HashAlgorithm{
	"sha256": cyclonedx.HashAlgoSHA256,
	"sha384": cyclonedx.HashAlgoSHA384,
	"sha512": cyclonedx.HashAlgoSHA512,
}

func cdxSpecVersion(v string) (cyclonedx.SpecVersion, error) {
	var sv cyclonedx.SpecVersion
	if err := sv.UnmarshalJSON([]byte(`"` + v + `"`)); err != nil {
		return 0, fmt.Errorf("CycloneDX spec version %q: %w", v, err)
	}
	return sv, nil
}

// marshal encodes v as compact JSON without HTML escaping, with a final
// newline, as syft's encoders do.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// contentKey hashes the scan result (as syft JSON) for identities of
// documents that have no manifest digest.
func contentKey(s *sbom.SBOM) (string, error) {
	b, err := marshal(syftjson.ToFormatModel(*s, syftjson.EncoderConfig{}))
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

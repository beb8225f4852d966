package schemacheck

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var loadOnce = sync.OnceValues(func() (*Schemas, error) { return Load(context.Background()) })

// schemas returns the schemas of the module cache; without them the test
// is skipped, unless AFFIX_INTEGRATION=1.
func schemas(t *testing.T) *Schemas {
	t.Helper()
	s, err := loadOnce()
	if err != nil {
		if errors.Is(err, ErrUnavailable) && os.Getenv("AFFIX_INTEGRATION") != "1" {
			t.Skipf("SBOM JSON schemas: %v (AFFIX_INTEGRATION=1 makes this a failure)", err)
		}
		t.Fatal(err)
	}
	return s
}

// edit decodes doc, lets fn change it, and encodes it again.
func edit(t *testing.T, doc string, fn func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatal(err)
	}
	fn(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func obj(v any) map[string]any { return v.(map[string]any) }
func arr(v any) []any          { return v.([]any) }

const validSPDX = `{
  "spdxVersion": "SPDX-2.3",
  "dataLicense": "CC0-1.0",
  "SPDXID": "SPDXRef-DOCUMENT",
  "name": "example.com/app@sha256:00",
  "documentNamespace": "https://example.com/spdx/app-0c4b0b36-7f08-5c9e-a3f5-4c55e1b4d0c9",
  "creationInfo": {"created": "2024-01-02T03:04:05Z", "creators": ["Tool: affix-1.0.0"]},
  "documentDescribes": ["SPDXRef-image"],
  "hasExtractedLicensingInfos": [{"licenseId": "LicenseRef-custom", "extractedText": "custom"}],
  "packages": [
    {"name": "app", "SPDXID": "SPDXRef-image", "downloadLocation": "NOASSERTION", "filesAnalyzed": false, "primaryPackagePurpose": "CONTAINER"},
    {"name": "debian", "SPDXID": "SPDXRef-OperatingSystem-debian-12", "versionInfo": "12", "downloadLocation": "NOASSERTION", "primaryPackagePurpose": "OPERATING_SYSTEM"},
    {"name": "zlib", "SPDXID": "SPDXRef-Package-deb-zlib", "downloadLocation": "NOASSERTION", "licenseConcluded": "Zlib OR LicenseRef-custom", "licenseDeclared": "NOASSERTION",
     "hasFiles": ["SPDXRef-File-status"],
     "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": "pkg:deb/debian/zlib1g@1.2.13"}]}
  ],
  "files": [{"fileName": "/var/lib/dpkg/status", "SPDXID": "SPDXRef-File-status", "checksums": [{"algorithm": "SHA256", "checksumValue": "00"}]}],
  "relationships": [
    {"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": "SPDXRef-image"},
    {"spdxElementId": "SPDXRef-image", "relationshipType": "CONTAINS", "relatedSpdxElement": "SPDXRef-OperatingSystem-debian-12"},
    {"spdxElementId": "SPDXRef-image", "relationshipType": "CONTAINS", "relatedSpdxElement": "SPDXRef-Package-deb-zlib"},
    {"spdxElementId": "SPDXRef-Package-deb-zlib", "relationshipType": "OTHER", "relatedSpdxElement": "NOASSERTION"}
  ]
}`

// TestCheckSPDX: each rule CheckSPDX states catches its violation, and a
// valid document passes.
func TestCheckSPDX(t *testing.T) {
	pkg := func(m map[string]any, i int) map[string]any { return obj(arr(m["packages"])[i]) }
	rel := func(m map[string]any, i int) map[string]any { return obj(arr(m["relationships"])[i]) }
	tests := []struct {
		name string
		edit func(m map[string]any)
		want string // in the error; "" for none
	}{
		{"valid", func(map[string]any) {}, ""},
		{"relationship only", func(m map[string]any) { delete(m, "documentDescribes") }, ""},
		{"documentDescribes only", func(m map[string]any) { m["relationships"] = arr(m["relationships"])[1:] }, ""},
		{"described by", func(m map[string]any) {
			delete(m, "documentDescribes")
			m["relationships"] = append(arr(m["relationships"])[1:], map[string]any{"spdxElementId": "SPDXRef-image", "relationshipType": "DESCRIBED_BY", "relatedSpdxElement": "SPDXRef-DOCUMENT"})
		}, ""},
		{"external element", func(m map[string]any) {
			m["externalDocumentRefs"] = []any{map[string]any{"externalDocumentId": "DocumentRef-base", "spdxDocument": "https://example.com/base", "checksum": map[string]any{"algorithm": "SHA1", "checksumValue": "00"}}}
			rel(m, 3)["relatedSpdxElement"] = "DocumentRef-base:SPDXRef-x"
		}, ""},
		{"document SPDXID", func(m map[string]any) { m["SPDXID"] = "SPDXRef-doc" }, "want SPDXRef-DOCUMENT"},
		{"duplicate SPDXID", func(m map[string]any) { pkg(m, 1)["SPDXID"] = "SPDXRef-image" }, "SPDXID SPDXRef-image of a package is also a package's"},
		{"file and package share an SPDXID", func(m map[string]any) { obj(arr(m["files"])[0])["SPDXID"] = "SPDXRef-image" }, "of a file is also a package's"},
		{"SPDXID form", func(m map[string]any) { pkg(m, 2)["SPDXID"] = "SPDXRef-deb:zlib" }, "is not SPDXRef-[A-Za-z0-9.-]+"},
		{"dangling relationship", func(m map[string]any) { rel(m, 2)["relatedSpdxElement"] = "SPDXRef-gone" }, "relatedSpdxElement names no element"},
		{"dangling relationship source", func(m map[string]any) { rel(m, 3)["spdxElementId"] = "SPDXRef-gone" }, "spdxElementId names no element"},
		{"undeclared external document", func(m map[string]any) { rel(m, 3)["relatedSpdxElement"] = "DocumentRef-base:SPDXRef-x" }, "relatedSpdxElement names no element"},
		{"hasFiles", func(m map[string]any) { pkg(m, 2)["hasFiles"] = []any{"SPDXRef-image"} }, "hasFiles names"},
		{"describes nothing", func(m map[string]any) {
			delete(m, "documentDescribes")
			m["relationships"] = arr(m["relationships"])[1:]
		}, "describes nothing"},
		{"documentDescribes dangling", func(m map[string]any) { m["documentDescribes"] = []any{"SPDXRef-gone"} }, "documentDescribes names"},
		{"describes disagree", func(m map[string]any) { m["documentDescribes"] = []any{"SPDXRef-Package-deb-zlib"} }, "disagree"},
		{"namespace relative", func(m map[string]any) { m["documentNamespace"] = "affix/spdx/app" }, "not an absolute URI"},
		{"namespace space", func(m map[string]any) { m["documentNamespace"] = "https://example.com/spdx/my app" }, "not allowed in a URI"},
		{"namespace fragment", func(m map[string]any) { m["documentNamespace"] = "https://example.com/spdx/app#1" }, "contains '#'"},
		{"namespace no host", func(m map[string]any) { m["documentNamespace"] = "https:///spdx/app" }, "has no host"},
		{"namespace escape", func(m map[string]any) { m["documentNamespace"] = "https://example.com/spdx/app%2" }, "percent-escape"},
		{"created offset", func(m map[string]any) { obj(m["creationInfo"])["created"] = "2024-01-02T04:04:05+01:00" }, "not YYYY-MM-DDThh:mm:ssZ"},
		{"created fraction", func(m map[string]any) { obj(m["creationInfo"])["created"] = "2024-01-02T03:04:05.5Z" }, "not YYYY-MM-DDThh:mm:ssZ"},
		{"created not a time", func(m map[string]any) { obj(m["creationInfo"])["created"] = "2024-13-02T03:04:05Z" }, "not YYYY-MM-DDThh:mm:ssZ"},
		{"creator form", func(m map[string]any) { obj(m["creationInfo"])["creators"] = []any{"affix-1.0.0"} }, "is not Person:, Organization: or Tool:"},
		{"undeclared LicenseRef", func(m map[string]any) { m["hasExtractedLicensingInfos"] = []any{} }, "uses LicenseRef-custom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckSPDX(edit(t, validSPDX, tt.edit))
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("CheckSPDX: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("CheckSPDX = %v, want an error saying %q", err, tt.want)
			}
		})
	}
}

const validCycloneDX = `{
  "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
  "bomFormat": "CycloneDX",
  "specVersion": "1.6",
  "serialNumber": "urn:uuid:093709b5-da87-55b8-a91d-2daf72101e19",
  "version": 1,
  "metadata": {
    "timestamp": "2024-01-02T03:04:05Z",
    "component": {"bom-ref": "image", "type": "container", "name": "app", "version": "sha256:00"}
  },
  "components": [
    {"bom-ref": "pkg:deb/debian/zlib1g@1.2.13", "type": "library", "name": "zlib1g", "licenses": [{"license": {"id": "Zlib"}}],
     "components": [{"bom-ref": "nested", "type": "file", "name": "status"}]},
    {"bom-ref": "os", "type": "operating-system", "name": "debian", "version": "12"}
  ],
  "dependencies": [
    {"ref": "image", "dependsOn": ["pkg:deb/debian/zlib1g@1.2.13", "os"]},
    {"ref": "os", "provides": ["nested"]}
  ]
}`

// TestCheckCycloneDX: each rule CheckCycloneDX states catches its
// violation, and a valid document passes.
func TestCheckCycloneDX(t *testing.T) {
	comp := func(m map[string]any, i int) map[string]any { return obj(arr(m["components"])[i]) }
	dep := func(m map[string]any, i int) map[string]any { return obj(arr(m["dependencies"])[i]) }
	tests := []struct {
		name string
		edit func(m map[string]any)
		want string
	}{
		{"valid", func(map[string]any) {}, ""},
		{"no serial number", func(m map[string]any) { delete(m, "serialNumber") }, ""},
		{"duplicate bom-ref", func(m map[string]any) { comp(m, 1)["bom-ref"] = "image" }, `bom-ref "image" is used 2 times`},
		{"duplicate nested bom-ref", func(m map[string]any) { comp(m, 1)["bom-ref"] = "nested" }, `bom-ref "nested" is used 2 times`},
		{"dangling ref", func(m map[string]any) { dep(m, 1)["ref"] = "gone" }, `ref "gone" is no bom-ref`},
		{"dangling dependsOn", func(m map[string]any) { dep(m, 0)["dependsOn"] = []any{"gone"} }, `dependsOn "gone"`},
		{"dangling provides", func(m map[string]any) { dep(m, 1)["provides"] = []any{"gone"} }, `provides "gone"`},
		{"ref listed twice", func(m map[string]any) { dep(m, 1)["ref"] = "image" }, "has another dependencies entry"},
		{"serial not a URN", func(m map[string]any) { m["serialNumber"] = "093709b5-da87-55b8-a91d-2daf72101e19" }, "is not urn:uuid:"},
		{"serial upper case", func(m map[string]any) { m["serialNumber"] = "urn:uuid:093709B5-DA87-55B8-A91D-2DAF72101E19" }, "is not urn:uuid:"},
		{"serial variant", func(m map[string]any) { m["serialNumber"] = "urn:uuid:093709b5-da87-55b8-c91d-2daf72101e19" }, "not an RFC 4122 UUID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckCycloneDX(edit(t, validCycloneDX, tt.edit))
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("CheckCycloneDX: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("CheckCycloneDX = %v, want an error saying %q", err, tt.want)
			}
		})
	}
}

const validSyft = `{
  "artifacts": [{"id": "a1"}, {"id": "a2"}],
  "files": [{"id": "f1"}],
  "source": {"id": "s1"},
  "artifactRelationships": [
    {"parent": "s1", "child": "a1", "type": "contains"},
    {"parent": "a1", "child": "f1", "type": "evident-by"},
    {"parent": "a2", "child": "a1", "type": "dependency-of"}
  ]
}`

func TestCheckSyftJSON(t *testing.T) {
	tests := []struct {
		name string
		edit func(m map[string]any)
		want string
	}{
		{"valid", func(map[string]any) {}, ""},
		{"duplicate id", func(m map[string]any) { obj(arr(m["files"])[0])["id"] = "a2" }, `id "a2" of a file is also a artifact's`},
		{"dangling parent", func(m map[string]any) { obj(arr(m["artifactRelationships"])[2])["parent"] = "gone" }, "parent names nothing"},
		{"dangling child", func(m map[string]any) { obj(arr(m["artifactRelationships"])[1])["child"] = "gone" }, "child names nothing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckSyftJSON(edit(t, validSyft, tt.edit))
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("CheckSyftJSON: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("CheckSyftJSON = %v, want an error saying %q", err, tt.want)
			}
		})
	}
}

// TestSchemas: the schemas are read from the module cache and enforced
// (enums, required properties, patterns, formats, and the CycloneDX
// schemas' references to the SPDX license list and JSF), and what is
// valid passes.
func TestSchemas(t *testing.T) {
	s := schemas(t)
	tests := []struct {
		name  string
		check func([]byte) error
		doc   []byte
		want  string
	}{
		{"spdx valid", s.SPDX, []byte(validSPDX), ""},
		{"spdx purpose with hyphen", s.SPDX, edit(t, validSPDX, func(m map[string]any) {
			obj(arr(m["packages"])[1])["primaryPackagePurpose"] = "OPERATING-SYSTEM"
		}), "primaryPackagePurpose"},
		{"spdx without name", s.SPDX, edit(t, validSPDX, func(m map[string]any) { delete(obj(arr(m["packages"])[0]), "name") }), "missing property 'name'"},
		{"spdx unknown property", s.SPDX, edit(t, validSPDX, func(m map[string]any) { obj(arr(m["packages"])[0])["purpose"] = "x" }), "additional properties 'purpose' not allowed"},
		{"spdx other version", s.SPDX, edit(t, validSPDX, func(m map[string]any) { m["spdxVersion"] = "SPDX-2.2" }), "want SPDX-2.3"},
		{"spdx rule", s.SPDX, edit(t, validSPDX, func(m map[string]any) { m["documentNamespace"] = "app" }), "not an absolute URI"},
		{"cdx valid", s.CycloneDX, []byte(validCycloneDX), ""},
		{"cdx 1.5", s.CycloneDX, edit(t, validCycloneDX, func(m map[string]any) {
			m["specVersion"], m["$schema"] = "1.5", "http://cyclonedx.org/schema/bom-1.5.schema.json"
			delete(obj(arr(m["dependencies"])[1]), "provides") // new in 1.6
		}), ""},
		{"cdx bad timestamp", s.CycloneDX, edit(t, validCycloneDX, func(m map[string]any) { obj(m["metadata"])["timestamp"] = "2024-01-02 03:04:05" }), "date-time"},
		{"cdx bad serial", s.CycloneDX, edit(t, validCycloneDX, func(m map[string]any) { m["serialNumber"] = "urn:uuid:x" }), "serialNumber"},
		{"cdx unknown license", s.CycloneDX, edit(t, validCycloneDX, func(m map[string]any) {
			obj(obj(arr(obj(arr(m["components"])[0])["licenses"])[0])["license"])["id"] = "Not-A-License"
		}), "licenses"},
		{"cdx bad signature", s.CycloneDX, edit(t, validCycloneDX, func(m map[string]any) { m["signature"] = map[string]any{"algorithm": 1} }), "signature"},
		{"cdx unknown version", s.CycloneDX, edit(t, validCycloneDX, func(m map[string]any) { m["specVersion"] = "1.99" }), "bom-1.99.schema.json"},
		{"cdx rule", s.CycloneDX, edit(t, validCycloneDX, func(m map[string]any) { obj(arr(m["dependencies"])[0])["ref"] = "gone" }), "no bom-ref"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.check(tt.doc)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("valid document rejected: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("error %v, want one saying %q", err, tt.want)
			}
		})
	}
}

// TestSchemasNoFetch: a reference outside the CycloneDX schemas is
// refused, not fetched.
func TestSchemasNoFetch(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "s.json")
	if err := os.WriteFile(f, []byte(`{"$ref": "https://example.com/other.json"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	err := New(dir, dir).Validate(f, []byte(`{}`))
	if err == nil || !strings.Contains(err.Error(), "nothing is fetched") {
		t.Errorf("Validate = %v, want a refusal to fetch", err)
	}
}

// TestModuleDirsWithoutGo: with no go command, modules are found in the
// module cache by the versions go.mod requires, where go list finds them.
func TestModuleDirsWithoutGo(t *testing.T) {
	mods := []string{SyftModule, CycloneDXModule}
	want, err := goListDirs(context.Background(), mods)
	if errors.Is(err, exec.ErrNotFound) {
		t.Skip("no go command to compare with")
	}
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOMODCACHE", strings.TrimSpace(string(out)))
	t.Setenv("PATH", "")
	got, err := ModuleDirs(context.Background(), mods...)
	if err != nil || !maps.Equal(got, want) {
		t.Errorf("without go: %v, %v; go list says %v", got, err, want)
	}
	if _, err := ModuleDirs(context.Background(), "example.com/not-required"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("a module go.mod does not require: %v, want ErrUnavailable", err)
	}
}

func TestRequirements(t *testing.T) {
	req, replaced, err := requirements("go.mod", []byte(`module example.com/m

go 1.26

require example.com/one v1.0.0

require (
	example.com/two v0.2.0 // indirect
	// a comment
	example.com/Three v1.0.0-RC1
)

replace example.com/four => ../four
replace (
	example.com/five v1.0.0 => example.com/six v1.0.0
)
`))
	if err != nil {
		t.Fatal(err)
	}
	wantReq := map[string]string{"example.com/one": "v1.0.0", "example.com/two": "v0.2.0", "example.com/Three": "v1.0.0-RC1"}
	if !maps.Equal(req, wantReq) {
		t.Errorf("requirements = %v, want %v", req, wantReq)
	}
	if wantRepl := map[string]bool{"example.com/four": true, "example.com/five": true}; !maps.Equal(replaced, wantRepl) {
		t.Errorf("replaced = %v, want %v", replaced, wantRepl)
	}
}

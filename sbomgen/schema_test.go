package sbomgen

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/containerd/platforms"

	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/sbomgen/internal/schemacheck"
)

// loadSchemas finds the SBOM JSON schemas in the module cache once.
var loadSchemas = sync.OnceValues(func() (*schemacheck.Schemas, error) {
	return schemacheck.Load(context.Background())
})

// schemas returns the SBOM JSON schemas; without them (no go command
// and no module cache) the test is skipped, unless AFFIX_INTEGRATION=1.
func schemas(t testing.TB) *schemacheck.Schemas {
	t.Helper()
	s, err := loadSchemas()
	if err != nil {
		if errors.Is(err, schemacheck.ErrUnavailable) && os.Getenv("AFFIX_INTEGRATION") != "1" {
			t.Skipf("not validating against the SBOM JSON schemas: %v (AFFIX_INTEGRATION=1 makes this a failure)", err)
		}
		t.Fatalf("SBOM JSON schemas: %v", err)
	}
	return s
}

// validateDoc checks data, a document in format f, against its JSON
// schema and the rules of its specification the schema does not express.
func validateDoc(t *testing.T, s *schemacheck.Schemas, f Format, data []byte) {
	t.Helper()
	var err error
	switch f {
	case SPDXJSON:
		err = s.SPDX(data)
	case CycloneDXJSON:
		err = s.CycloneDX(data)
	case SyftJSON:
		err = s.SyftJSON(data)
	default:
		t.Fatalf("no schema for format %s", f)
	}
	if err != nil {
		t.Errorf("%s document is invalid:\n%v", f, err)
	}
}

// checkAffixDoc checks what affix promises of every document beyond its
// specification: SPDX documents name what they describe both ways
// (documentDescribes and a DESCRIBES relationship), CycloneDX ones are
// of CycloneDXSpecVersion, and both carry the result's creation time in
// UTC.
func checkAffixDoc(t *testing.T, f Format, data []byte, created time.Time) {
	t.Helper()
	want := created.UTC().Format(time.RFC3339)
	switch f {
	case SPDXJSON:
		var d struct {
			DocumentDescribes []string `json:"documentDescribes"`
			CreationInfo      struct {
				Created string `json:"created"`
			} `json:"creationInfo"`
			Relationships []struct {
				SPDXElementID      string `json:"spdxElementId"`
				RelationshipType   string `json:"relationshipType"`
				RelatedSPDXElement string `json:"relatedSpdxElement"`
			} `json:"relationships"`
		}
		if err := json.Unmarshal(data, &d); err != nil {
			t.Fatal(err)
		}
		var rel []string
		for _, r := range d.Relationships {
			if r.SPDXElementID == "SPDXRef-DOCUMENT" && r.RelationshipType == "DESCRIBES" {
				rel = append(rel, r.RelatedSPDXElement)
			}
		}
		if len(d.DocumentDescribes) != 1 || !slices.Equal(rel, d.DocumentDescribes) {
			t.Errorf("documentDescribes %q, DESCRIBES relationships to %q; want one, the same", d.DocumentDescribes, rel)
		}
		if d.CreationInfo.Created != want {
			t.Errorf("creationInfo.created %q, want %q", d.CreationInfo.Created, want)
		}
	case CycloneDXJSON:
		var d struct {
			SpecVersion string `json:"specVersion"`
			Metadata    struct {
				Timestamp string `json:"timestamp"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(data, &d); err != nil {
			t.Fatal(err)
		}
		if d.SpecVersion != CycloneDXSpecVersion {
			t.Errorf("specVersion %q, want %q", d.SpecVersion, CycloneDXSpecVersion)
		}
		if d.Metadata.Timestamp != want {
			t.Errorf("metadata.timestamp %q, want %q", d.Metadata.Timestamp, want)
		}
	}
}

// TestSbomSchemas: the documents of every platform image of the fixture
// layouts, in every format, and those of their root filesystems scanned
// as directories (BuildKit's scanner protocol), are valid against the
// official JSON schemas (SPDX 2.3, CycloneDX of the specVersion written,
// syft JSON of the schema version written), read from the module cache,
// and follow the rules of their specifications the schemas do not
// express (schemacheck.CheckSPDX, CheckCycloneDX, CheckSyftJSON).
func TestSbomSchemas(t *testing.T) {
	s := schemas(t)
	ctx := context.Background()
	for _, fx := range []struct {
		name   string
		layout func(testing.TB) (string, *fixture.Result)
	}{{"standard", standard}, {"variants", variants}} {
		dir, res := fx.layout(t)
		results, err := newGen(t, Options{Formats: Formats()}).Images(ctx, openLayout(t, dir), res.Manifests)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range results {
			name := fx.name + "/" + platforms.Format(r.Platform)
			for _, d := range r.Documents {
				t.Run(name+"/image/"+d.Format.String(), func(t *testing.T) {
					validateDoc(t, s, d.Format, d.Data)
					checkAffixDoc(t, d.Format, d.Data, r.Created)
				})
			}
			if fx.name != "standard" {
				continue // one directory scan per kind of image is enough
			}
			root := filepath.Join(t.TempDir(), "rootfs")
			extract(t, dir, res.Manifests[i], root)
			dr, err := newGen(t, Options{Formats: Formats(), Name: "sbom"}).Dir(ctx, root)
			if err != nil {
				t.Fatal(err)
			}
			if dr.PackageCount() != r.PackageCount() {
				t.Errorf("%s: directory scan finds %s, image scan %s", name, dr.PackageSummary(), r.PackageSummary())
			}
			for _, d := range dr.Documents {
				t.Run(name+"/directory/"+d.Format.String(), func(t *testing.T) {
					validateDoc(t, s, d.Format, d.Data)
					checkAffixDoc(t, d.Format, d.Data, dr.Created)
				})
			}
		}
	}
}

// TestSbomCycloneDXSchemaShipped: the schema of the CycloneDX version
// affix writes is in the cyclonedx-go module, so TestSbomSchemas checks
// documents against the right one (not a near version).
func TestSbomCycloneDXSchemaShipped(t *testing.T) {
	f := schemas(t).CycloneDXFile(CycloneDXSpecVersion)
	if _, err := os.Stat(f); err != nil {
		t.Errorf("no schema for CycloneDX %s: %v", CycloneDXSpecVersion, err)
	}
}

// Package schemacheck checks SBOM documents against the JSON schemas
// their specifications publish (SPDX 2.3, CycloneDX 1.x, syft JSON), and
// against the rules of those specifications a schema does not express
// (identifiers unique, references resolved, URI and time forms).
//
// The schemas are never downloaded: the modules affix builds with ship
// them, so they are read from the module cache (ModuleDirs). Tests use
// this package; affix itself does not.
package schemacheck

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// cdxSchemaBase is the URL the CycloneDX schemas name themselves and each
// other by ($id, $ref).
const cdxSchemaBase = "http://cyclonedx.org/schema/"

// Schemas validates documents against the schema files of the syft and
// cyclonedx-go source trees. It is safe for concurrent use.
type Schemas struct {
	syftDir, cdxDir string

	mu       sync.Mutex
	compiled map[string]*jsonschema.Schema // by schema file
}

// Load returns the Schemas of the modules in the build list of the main
// module of the working directory (ModuleDirs).
func Load(ctx context.Context) (*Schemas, error) {
	dirs, err := ModuleDirs(ctx, SyftModule, CycloneDXModule)
	if err != nil {
		return nil, err
	}
	return New(dirs[SyftModule], dirs[CycloneDXModule]), nil
}

// New returns the Schemas of the source trees of the syft module in
// syftDir and the cyclonedx-go module in cycloneDXDir.
func New(syftDir, cycloneDXDir string) *Schemas {
	return &Schemas{syftDir: syftDir, cdxDir: cycloneDXDir, compiled: map[string]*jsonschema.Schema{}}
}

// SPDXFile is the SPDX 2.3 JSON schema (syft's copy of the one the SPDX
// project publishes).
func (s *Schemas) SPDXFile() string {
	return filepath.Join(s.syftDir, "schema", "spdx-json", "spdx-schema-2.3.json")
}

// CycloneDXFile is the CycloneDX JSON schema of spec version v ("1.6").
func (s *Schemas) CycloneDXFile(v string) string {
	return filepath.Join(s.cdxDir, "schema", "bom-"+v+".schema.json")
}

// SyftFile is the schema of syft JSON documents of schema version v
// ("16.1.13").
func (s *Schemas) SyftFile(v string) string {
	return filepath.Join(s.syftDir, "schema", "json", "schema-"+v+".json")
}

// SPDX checks an SPDX 2.3 JSON document against the schema, then by the
// rules of CheckSPDX.
func (s *Schemas) SPDX(doc []byte) error {
	var head struct {
		SPDXVersion string `json:"spdxVersion"`
	}
	if err := json.Unmarshal(doc, &head); err != nil {
		return fmt.Errorf("SPDX document: %w", err)
	}
	if head.SPDXVersion != "SPDX-2.3" {
		return fmt.Errorf("SPDX document: spdxVersion %q, want SPDX-2.3", head.SPDXVersion)
	}
	return errors.Join(s.Validate(s.SPDXFile(), doc), CheckSPDX(doc))
}

// cdxSpecVersion is the form of a CycloneDX specVersion.
var cdxSpecVersion = regexp.MustCompile(`^1\.[0-9]+$`)

// CycloneDX checks a CycloneDX JSON document against the schema of its
// specVersion, then by the rules of CheckCycloneDX.
func (s *Schemas) CycloneDX(doc []byte) error {
	var head struct {
		BOMFormat   string `json:"bomFormat"`
		SpecVersion string `json:"specVersion"`
	}
	if err := json.Unmarshal(doc, &head); err != nil {
		return fmt.Errorf("CycloneDX document: %w", err)
	}
	if head.BOMFormat != "CycloneDX" || !cdxSpecVersion.MatchString(head.SpecVersion) {
		return fmt.Errorf("CycloneDX document: bomFormat %q, specVersion %q", head.BOMFormat, head.SpecVersion)
	}
	return errors.Join(s.Validate(s.CycloneDXFile(head.SpecVersion), doc), CheckCycloneDX(doc))
}

// syftSchemaVersion is the form of a syft JSON schema version.
var syftSchemaVersion = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+$`)

// SyftJSON checks a syft JSON document against the schema of the schema
// version it names, then by the rules of CheckSyftJSON.
func (s *Schemas) SyftJSON(doc []byte) error {
	var head struct {
		Schema struct {
			Version string `json:"version"`
		} `json:"schema"`
	}
	if err := json.Unmarshal(doc, &head); err != nil {
		return fmt.Errorf("syft JSON document: %w", err)
	}
	if !syftSchemaVersion.MatchString(head.Schema.Version) {
		return fmt.Errorf("syft JSON document: schema version %q", head.Schema.Version)
	}
	return errors.Join(s.Validate(s.SyftFile(head.Schema.Version), doc), CheckSyftJSON(doc))
}

// Validate validates the JSON document doc against the schema in file,
// asserting formats (date-time, iri-reference, ...). References to other
// CycloneDX schemas are read beside file; no other reference is followed.
func (s *Schemas) Validate(file string, doc []byte) error {
	sch, err := s.schema(file)
	if err != nil {
		return err
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("decoding document for %s: %w", filepath.Base(file), err)
	}
	if err := sch.Validate(v); err != nil {
		return fmt.Errorf("%s: %w", filepath.Base(file), err)
	}
	return nil
}

func (s *Schemas) schema(file string) (*jsonschema.Schema, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sch, ok := s.compiled[file]; ok {
		return sch, nil
	}
	if _, err := os.Stat(file); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	local := localLoader{dir: filepath.Dir(file)}
	c.UseLoader(jsonschema.SchemeURLLoader{"file": jsonschema.FileLoader{}, "http": local, "https": local})
	sch, err := c.Compile(file)
	if err != nil {
		return nil, fmt.Errorf("compiling schema %s: %w", file, err)
	}
	s.compiled[file] = sch
	return sch, nil
}

// localLoader reads the CycloneDX schemas a schema refers to by URL from
// dir. cyclonedx-go ships the JSF schema as jsf-0.82.schemax.json, which
// bom-1.N.schema.json names jsf-0.82.schema.json.
type localLoader struct{ dir string }

func (l localLoader) Load(url string) (any, error) {
	name, ok := strings.CutPrefix(url, cdxSchemaBase)
	if !ok || name == "" || strings.ContainsAny(name, `/\`) {
		return nil, fmt.Errorf("schema %s: only CycloneDX schemas are read, from the module cache; nothing is fetched", url)
	}
	p := filepath.Join(l.dir, name)
	if _, err := os.Stat(p); err != nil {
		if x, ok := strings.CutSuffix(name, ".schema.json"); ok {
			p = filepath.Join(l.dir, x+".schemax.json")
		}
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("schema %s: %w", url, err)
	}
	defer f.Close()
	return jsonschema.UnmarshalJSON(f)
}

package schemacheck_test

//lint:file-ignore SA1019 statements are decoded with in-toto-golang's Statement on purpose: BuildKit decodes scanner output with it.
import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	intoto "github.com/in-toto/in-toto-golang/in_toto"

	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/plugin/scanner"
	"github.com/affix-oci/affix/sbomgen/internal/schemacheck"
)

// writeRootfs writes layers into root (fixture.WriteRootfs), failing t.
func writeRootfs(t *testing.T, root string, layers []fixture.Layer) {
	t.Helper()
	if err := fixture.WriteRootfs(root, layers...); err != nil {
		t.Fatal(err)
	}
}

// TestScannerStatements: the in-toto statements the BuildKit SBOM scanner
// (plugin/scanner, over sbomgen's directory scan) writes for the Standard
// fixture's root filesystems, the final image and an extra stage, decode
// as BuildKit decodes them, say what BuildKit requires of an SBOM
// generator, and carry an SPDX document valid against the SPDX 2.3 JSON
// schema and schemacheck's rules, as written and as BuildKit re-encodes it
// into the attestation it stores.
func TestScannerStatements(t *testing.T) {
	ctx := context.Background()
	s, err := schemacheck.Load(ctx)
	if err != nil {
		if errors.Is(err, schemacheck.ErrUnavailable) && os.Getenv("AFFIX_INTEGRATION") != "1" {
			t.Skipf("SBOM JSON schemas: %v (AFFIX_INTEGRATION=1 makes this a failure)", err)
		}
		t.Fatal(err)
	}
	spec, err := fixture.Standard(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	src, extras, dest := filepath.Join(tmp, "sbom"), filepath.Join(tmp, "extras"), filepath.Join(tmp, "out")
	writeRootfs(t, src, spec.Images[0].Layers)                                 // linux/amd64, Debian
	writeRootfs(t, filepath.Join(extras, "sbom-build"), spec.Images[1].Layers) // linux/arm64, Alpine
	if err := os.Mkdir(dest, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg, err := scanner.ConfigFromEnv([]string{
		scanner.EnvDestination + "=" + dest,
		scanner.EnvSource + "=" + src,
		scanner.EnvSourceExtras + "=" + extras,
	})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := scanner.Run(ctx, cfg, scanner.Options{TempDir: tmp})
	if err != nil {
		t.Fatal(err)
	}
	if len(outs) != 2 {
		t.Fatalf("%d statements, want 2 (final image and sbom-build)", len(outs))
	}
	for _, o := range outs {
		t.Run(o.Target.Name, func(t *testing.T) {
			b, err := os.ReadFile(o.File)
			if err != nil {
				t.Fatal(err)
			}
			// As BuildKit's exporter/attestation decodeStatement: one
			// JSON object, an in_toto.Statement.
			dec := json.NewDecoder(bytes.NewReader(b))
			var stmt intoto.Statement
			if err := dec.Decode(&stmt); err != nil {
				t.Fatalf("decoding the statement: %v", err)
			}
			if _, err := dec.Token(); !errors.Is(err, io.EOF) {
				t.Errorf("the statement is not a single JSON object: %v", err)
			}
			if stmt.Type != intoto.StatementInTotoV01 || stmt.PredicateType != intoto.PredicateSPDX {
				t.Errorf("_type %q, predicateType %q; want %q, %q", stmt.Type, stmt.PredicateType, intoto.StatementInTotoV01, intoto.PredicateSPDX)
			}
			var raw struct {
				Subject   json.RawMessage `json:"subject"`
				Predicate json.RawMessage `json:"predicate"`
			}
			if err := json.Unmarshal(b, &raw); err != nil {
				t.Fatal(err)
			}
			// Empty, not absent: BuildKit fills in the image manifest.
			if string(raw.Subject) != "[]" {
				t.Errorf("subject %s, want []", raw.Subject)
			}
			// The root filesystem was scanned: its distribution is there.
			if !bytes.Contains(raw.Predicate, []byte(`"primaryPackagePurpose":"OPERATING_SYSTEM"`)) || o.Packages["npm"] != 1 {
				t.Errorf("the SBOM names no operating system, or not the fixture's one npm package (%v)", o.Packages)
			}
			if err := s.SPDX(raw.Predicate); err != nil {
				t.Errorf("predicate as written is invalid:\n%v", err)
			}
			stored, err := json.Marshal(stmt.Predicate) // what BuildKit stores
			if err != nil {
				t.Fatal(err)
			}
			if err := s.SPDX(stored); err != nil {
				t.Errorf("predicate as BuildKit stores it is invalid:\n%v", err)
			}
		})
	}
}

package convert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/sbomgen"
)

// The fuzz targets of this file feed what convert reads from a registry
// (attestation manifests, in-toto statements, SPDX documents) to its
// parsers.

// fuzzSPDX is an SPDX document as BuildKit stores the final image's.
const fuzzSPDX = `{"spdxVersion":"SPDX-2.3","dataLicense":"CC0-1.0","SPDXID":"SPDXRef-DOCUMENT","name":"sbom","documentNamespace":"https://example.invalid/sbom",` +
	`"creationInfo":{"created":"2024-05-06T07:08:09Z","creators":["Tool: affix-test+syft-v1","Tool: buildkit-v0.34.2"]},` +
	`"packages":[{"SPDXID":"SPDXRef-DocumentRoot-Directory-sbom","name":"sbom","primaryPackagePurpose":"FILE","checksums":[{"algorithm":"SHA256","checksumValue":"00"}]},` +
	`{"SPDXID":"SPDXRef-Package-apk-musl","name":"musl","versionInfo":"1.2.5-r0","size":1234567890123,"externalRefs":[{"referenceCategory":"PACKAGE-MANAGER","referenceType":"purl","referenceLocator":"pkg:apk/alpine/musl@1.2.5-r0"}]}],` +
	`"relationships":[{"spdxElementId":"SPDXRef-DOCUMENT","relationshipType":"DESCRIBES","relatedSpdxElement":"SPDXRef-DocumentRoot-Directory-sbom"}]}`

// fuzzManifest is the platform manifest the fuzzed attestations are for.
var fuzzManifest = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("platform manifest"), Size: 1234,
	Platform: &ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}

// statement wraps doc in an in-toto statement naming subject (a digest
// string, or a placeholder).
func statement(typ, predicateType, subject, doc string) string {
	return `{"_type":"` + typ + `","predicateType":"` + predicateType + `","subject":[{"name":"pkg:docker/app@latest","digest":{"sha256":"` + subject + `"}}],"predicate":` + doc + `}`
}

// FuzzParseStatement decodes fuzzed statements and their SPDX predicate
// as convert does: every refusal wraps ErrBadAttestation; a statement
// taken has the SPDX predicate type and an object predicate; an SPDX
// document taken is SPDX 2.x, with a UTC creation time (or none) and the
// generator oci.SPDXTool names.
func FuzzParseStatement(f *testing.F) {
	hex := fuzzManifest.Digest.Encoded()
	for _, s := range []string{
		statement(oci.InTotoStatementType, PredicateSPDX, hex, fuzzSPDX),
		statement("https://in-toto.io/Statement/v1", PredicateSPDX, hex, `{"spdxVersion":"SPDX-2.2","creationInfo":{"created":"not a time","creators":null}}`),
		statement("https://in-toto.io/Statement/v1", PredicateSPDX, hex, `{"spdxVersion":"SPDX-3.0"}`),
		statement("https://in-toto.io/Statement/v1", PredicateSPDX, hex, `{"spdxVersion":"SPDX-2.3","creationInfo":{"created":"2024-05-06T07:08:09+02:00","creators":["Tool:","Organization: x","  Tool :  syft-v1 "]}}`),
		statement("https://in-toto.io/Statement/v1", "https://slsa.dev/provenance/v1", hex, `{}`),
		statement("https://in-toto.io/Statement/v1", PredicateSPDX, hex, ` [1] `),
		statement("https://example.com/Statement", PredicateSPDX, hex, `{}`),
		`{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://spdx.dev/Document","predicate":null}`,
		`{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://spdx.dev/Document","predicate":{"spdxVersion":["SPDX-2.3"]}}`,
		`{"_type":1}`, `null`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseStatement(b)
		if err != nil {
			if !errors.Is(err, ErrBadAttestation) {
				t.Fatalf("parseStatement: %v does not wrap ErrBadAttestation", err)
			}
			return
		}
		if s.PredicateType != PredicateSPDX || !s.IsStatement() {
			t.Fatalf("parseStatement took %q, %q", s.Type, s.PredicateType)
		}
		if p := bytes.TrimSpace(s.Predicate); len(p) == 0 || p[0] != '{' {
			t.Fatalf("parseStatement took predicate %q", s.Predicate)
		}
		info, err := readSPDX(s.Predicate)
		if err != nil {
			if !errors.Is(err, ErrBadAttestation) {
				t.Fatalf("readSPDX: %v does not wrap ErrBadAttestation", err)
			}
			return
		}
		var v struct {
			SPDXVersion  string `json:"spdxVersion"`
			CreationInfo struct {
				Creators []string `json:"creators"`
			} `json:"creationInfo"`
		}
		if err := json.Unmarshal(s.Predicate, &v); err != nil || !strings.HasPrefix(v.SPDXVersion, "SPDX-2.") {
			t.Fatalf("readSPDX took %s (%v)", s.Predicate, err)
		}
		if !info.created.IsZero() && info.created.Location().String() != "UTC" {
			t.Errorf("created %v is not UTC", info.created)
		}
		if info.generator != oci.SPDXTool(v.CreationInfo.Creators) {
			t.Errorf("generator %q, SPDXTool says %q", info.generator, oci.SPDXTool(v.CreationInfo.Creators))
		}
	})
}

// FuzzNameImage names the image in fuzzed SPDX documents. A refusal
// wraps ErrBadAttestation; a document not named comes back unchanged; a
// named one is compact JSON whose described package carries the image's
// purl and digest (so sbomgen.DescribedDigest, which affix verify uses,
// finds the digest when it reads the document), naming it again changes
// nothing, and withPredicate puts it in a statement as it is.
func FuzzNameImage(f *testing.F) {
	root := `{"SPDXID":"SPDXRef-Root","name":"sbom","checksums":[{"algorithm":"SHA256","checksumValue":"00"},{"algorithm":"sha1","checksumValue":"11"}],"externalRefs":[{"referenceType":"purl","referenceLocator":"pkg:generic/sbom"},{"referenceType":"cpe23Type","referenceLocator":"cpe:2.3:a"}]}`
	for _, doc := range []string{
		fuzzSPDX,
		`{"spdxVersion":"SPDX-2.3","documentDescribes":["SPDXRef-Root"],"packages":[` + root + `]}`,
		`{"spdxVersion":"SPDX-2.3","packages":[` + root + `],"relationships":[{"spdxElementId":"SPDXRef-Root","relationshipType":"DESCRIBED_BY","relatedSpdxElement":"SPDXRef-DOCUMENT"}]}`,
		`{"spdxVersion":"SPDX-2.3","documentDescribes":["SPDXRef-Root","SPDXRef-Root"],"packages":[` + root + `,` + root + `]}`,
		`{"documentDescribes":["SPDXRef-Root"],"packages":[{"SPDXID":"SPDXRef-Root","checksums":"no","externalRefs":{"x":1}}]}`,
		`{"documentDescribes":["SPDXRef-Root"],"packages":[{"SPDXID":"SPDXRef-Root","spdxid":"SPDXRef-Other"}]}`,
		`{"documentDescribes":[1,null,"SPDXRef-Root"],"packages":[null,1,"x",{"SPDXID":"SPDXRef-Root"}],"relationships":[null,{"relationshipType":1}]}`,
		`{"documentDescribes":["SPDXRef-Root"],"packages":[{"SPDXID":"SPDXRef-Root","n":1e400,"m":12345678901234567890123,"s":"\u003c\ud800"}]}`,
		// Keys that differ only in case: DescribedDigest decodes into a
		// struct (case-insensitive, the last of the keys wins), nameImage
		// into a map; the image named must be the one DescribedDigest
		// reads, or the document is left alone.
		`{"spdxVersion":"SPDX-2.3","documentDescribes":["A"],"packages":[{"SPDXID":"A","spdxid":"Q"},{"SPDXID":"Z","spdxid":"A","externalRefs":[{"referenceType":"purl","referenceLocator":"pkg:oci/evil@sha256:` + digest.FromString("evil").Encoded() + `"}]}]}`,
		`{"spdxVersion":"SPDX-2.3","documentDescribes":["A"],"DocumentDescribes":["B"],"packages":[{"SPDXID":"A"},{"SPDXID":"B"}]}`,
		`{"a":1}{"b":2}`, `[]`, `{`, ``,
	} {
		f.Add([]byte(doc), "registry.example.com/team/App:1.0@sha256:"+strings.Repeat("a", 64), "amd64", "platform manifest")
	}
	f.Add([]byte(fuzzSPDX), "", "", "")
	f.Add([]byte(fuzzSPDX), "localhost:5000/a/b/c", "arm", "x")
	f.Fuzz(func(t *testing.T, doc []byte, repo, arch, seed string) {
		d := digest.FromString(seed)
		pl := ocispec.Platform{OS: "linux", Architecture: arch}
		out, ok, err := nameImage(doc, d, repo, pl)
		// The streaming implementation writes what decoding the whole
		// document into maps wrote, byte for byte.
		if old, oldOK, oldErr := nameImageMap(doc, d, repo, pl); (err == nil) != (oldErr == nil) || ok != oldOK || !bytes.Equal(out, old) {
			t.Fatalf("nameImage = %v, %v; the map oracle %v, %v; outputs:\n%s\n%s", ok, err, oldOK, oldErr, out, old)
		}
		if err != nil {
			if !errors.Is(err, ErrBadAttestation) {
				t.Fatalf("nameImage: %v does not wrap ErrBadAttestation", err)
			}
			return
		}
		if !ok {
			if !bytes.Equal(out, doc) {
				t.Fatalf("nameImage changed a document it did not name:\n%s\n%s", doc, out)
			}
			return
		}
		if !json.Valid(out) || !bytes.HasSuffix(out, []byte("}\n")) || bytes.Count(out, []byte("\n")) != 1 {
			t.Fatalf("named document is not one line of JSON: %q", out)
		}
		again, ok2, err := nameImage(out, d, repo, pl)
		if err != nil || !ok2 || !bytes.Equal(again, out) {
			t.Fatalf("naming the named document again: %v, %v, changed %v:\n%s\n%s", ok2, err, !bytes.Equal(again, out), out, again)
		}
		if other, _, _ := nameImage(doc, d, repo, pl); !bytes.Equal(other, out) {
			t.Fatal("nameImage is not deterministic")
		}
		purl := sbomgen.ImagePURL(repo, d, arch)
		if plain := !strings.ContainsFunc(purl, func(r rune) bool { return r < ' ' || r > '~' || r == '"' || r == '\\' }); plain && !bytes.Contains(out, []byte(purl)) {
			t.Errorf("named document lacks the purl %s", purl)
		}
		if got, err := sbomgen.DescribedDigest(sbomgen.SPDXJSON, out); err != nil || got != d {
			t.Errorf("nameImage named %s, but DescribedDigest reads %s (%v) from:\n%s", d, got, err, out)
		}
		stmt := statement(oci.InTotoStatementType, PredicateSPDX, d.Encoded(), `{"old":true}`)
		wrapped, err := withPredicate([]byte(stmt), out)
		if err != nil {
			t.Fatalf("withPredicate: %v", err)
		}
		if old, _ := withPredicateMap([]byte(stmt), out); !bytes.Equal(wrapped, old) {
			t.Fatalf("withPredicate wrote\n%s\nthe map oracle\n%s", wrapped, old)
		}
		s, err := oci.ParseStatement(wrapped)
		if err != nil || !bytes.Equal(s.Predicate, bytes.TrimSpace(out)) {
			t.Fatalf("withPredicate wrote %s (%v); want the named document as the predicate", wrapped, err)
		}
	})
}

// fuzzRepo serves blobs from memory. Only Fetch is used by
// converter.artifact; any other method would panic on the nil
// Repository.
type fuzzRepo struct {
	Repository
	blobs map[digest.Digest][]byte
}

func (r fuzzRepo) Fetch(_ context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	b, ok := r.blobs[desc.Digest]
	if !ok {
		return nil, fmt.Errorf("%s: %w", desc.Digest, oci.ErrBlobNotFound)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// resolve replaces, in docs[i], "<Dj>" and "<Sj>" for j > i by the digest
// and size of docs[j] as resolved, and "<M>" in every doc by the encoded
// digest of fuzzManifest (see the oci package's FuzzLayout).
func resolve(docs []string) ([][]byte, []ocispec.Descriptor) {
	out := make([][]byte, len(docs))
	descs := make([]ocispec.Descriptor, len(docs))
	for i := len(docs) - 1; i >= 0; i-- {
		s := strings.ReplaceAll(docs[i], "<M>", fuzzManifest.Digest.Encoded())
		for j := i + 1; j < len(docs); j++ {
			n := strconv.Itoa(j)
			s = strings.ReplaceAll(s, "<D"+n+">", descs[j].Digest.String())
			s = strings.ReplaceAll(s, "<S"+n+">", strconv.FormatInt(descs[j].Size, 10))
		}
		out[i] = []byte(s)
		descs[i] = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(out[i]), Size: int64(len(out[i]))}
	}
	return out, descs
}

// FuzzAttestation converts fuzzed BuildKit attestation manifests (att,
// with up to three layers l1..l3; see resolve) of fuzzManifest, as
// Convert does for each platform. It checks that a failure says what
// failed; that every layer is accounted for (published, or listed in
// Unconverted); that the referrer is of the platform manifest and its
// manifest encodes; and that converting again gives the same referrer.
func FuzzAttestation(f *testing.F) {
	layer := func(n int, annotated bool) string {
		ann := ""
		if annotated {
			ann = `,"annotations":{"in-toto.io/predicate-type":"https://spdx.dev/Document"}`
		}
		return fmt.Sprintf(`{"mediaType":"application/vnd.in-toto+json","digest":"<D%d>","size":<S%d>%s}`, n, n, ann)
	}
	manifest := func(layers ...string) string {
		return `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.docker.attestation.manifest.v1+json",` +
			`"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},` +
			`"layers":[` + strings.Join(layers, ",") + `],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:<M>","size":1234}}`
	}
	core := statement(oci.InTotoStatementType, PredicateSPDX, "<M>", fuzzSPDX)
	extra := statement(oci.InTotoStatementType, PredicateSPDX, "<M>", strings.ReplaceAll(strings.ReplaceAll(fuzzSPDX, `"name":"sbom"`, `"name":"sbom-build"`), `,"Tool: buildkit-v0.34.2"`, ``))
	prov := statement("https://in-toto.io/Statement/v1", "https://slsa.dev/provenance/v1", "<M>", `{"buildType":"x"}`)
	provLayer := `{"mediaType":"application/vnd.in-toto+json","digest":"<D3>","size":<S3>,"annotations":{"in-toto.io/predicate-type":"https://slsa.dev/provenance/v1"}}`
	for _, s := range [][4]string{
		{manifest(layer(1, true), layer(2, true), provLayer), extra, core, prov},
		{manifest(layer(1, false), layer(2, false)), prov, core, ""},
		{manifest(layer(1, true)), statement(oci.InTotoStatementType, PredicateSPDX, strings.Repeat("0", 64), fuzzSPDX), "", ""},
		{manifest(layer(1, true)), statement(oci.InTotoStatementType, PredicateSPDX, "<M>", `{"spdxVersion":"SPDX-2.3"}`), "", ""},
		{manifest(layer(1, true)), `{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://spdx.dev/Document","subject":[],"predicate":[]}`, "", ""},
		{manifest(`{"mediaType":"application/vnd.in-toto+json","digest":"sha256:` + strings.Repeat("1", 64) + `","size":83886080}`), "", "", ""},
		{manifest(`{"mediaType":"application/vnd.in-toto+json","digest":"<D1>","size":99999999999}`), core, "", ""},
		{manifest(`{"mediaType":"text/plain","digest":"nocolon","size":-1}`), "", "", ""},
		{strings.Replace(manifest(layer(1, true)), "sha256:<M>", "sha256:"+strings.Repeat("2", 64), 1), core, "", ""},
		{`{"layers":null}`, "", "", ""},
		{`[]`, "", "", ""},
	} {
		f.Add(s[0], s[1], s[2], s[3], false, false)
	}
	f.Add(manifest(layer(1, true)), core, "", "", true, false)
	f.Add(manifest(layer(1, true)), core, "", "", true, true)
	f.Add(manifest(layer(1, true)), core, "", "", false, true)
	f.Fuzz(func(t *testing.T, att, l1, l2, l3 string, keepInToto, raw bool) {
		docs, descs := resolve([]string{att, l1, l2, l3})
		repo := fuzzRepo{blobs: map[digest.Digest][]byte{}}
		for i, b := range docs {
			repo.blobs[descs[i].Digest] = b
		}
		opts := Options{KeepInToto: keepInToto, Raw: raw}
		convert := func() (*Platform, ocispec.Descriptor, error) {
			c := &converter{repo: repo, manifests: oci.NewManifestCache(repo), opts: opts, repository: "registry.example.com/team/app", statements: newStatements(repo, 0, "registry.example.com/team/app:fuzz")}
			p := &Platform{Manifest: fuzzManifest, Attestation: descs[0]}
			a, err := c.artifact(context.Background(), p)
			if err != nil || a == nil {
				return p, ocispec.Descriptor{}, err
			}
			if a.Subject.Digest != fuzzManifest.Digest || a.Subject.MediaType != fuzzManifest.MediaType || a.Subject.Size != fuzzManifest.Size {
				t.Fatalf("referrer of %v, not of the platform manifest", a.Subject)
			}
			desc, _, err := a.Manifest()
			if err != nil {
				t.Fatalf("the referrer's manifest: %v", err)
			}
			return p, desc, nil
		}
		p, desc, err := convert()
		if err != nil {
			if !errors.Is(err, ErrBadAttestation) && !errors.Is(err, oci.ErrBlobNotFound) && !errors.Is(err, oci.ErrDigestMismatch) &&
				!errors.Is(err, oci.ErrTooLarge) && !strings.Contains(err.Error(), "sha256:") && !strings.Contains(err.Error(), "digest") {
				t.Errorf("artifact: %v says neither what is wrong nor where", err)
			}
			return
		}
		var m ocispec.Manifest
		if err := json.Unmarshal(docs[0], &m); err != nil {
			t.Fatalf("artifact read an attestation manifest that does not decode: %v", err)
		}
		published := 0
		if desc.Digest != "" {
			published = 1
		}
		if len(p.Unconverted)+published != len(m.Layers) {
			t.Errorf("%d layers: %d unconverted, %d published", len(m.Layers), len(p.Unconverted), published)
		}
		if p.Extras > 0 && published == 0 {
			t.Errorf("%d extra SBOMs but none published", p.Extras)
		}
		p2, desc2, err := convert()
		if err != nil || desc2.Digest != desc.Digest || len(p2.Unconverted) != len(p.Unconverted) || p2.Named != p.Named {
			t.Fatalf("converting again: %v, %s (was %s)", err, desc2.Digest, desc.Digest)
		}
	})
}

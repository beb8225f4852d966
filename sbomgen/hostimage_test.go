package sbomgen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/anchore/syft/syft/format/syftjson"
	"github.com/anchore/syft/syft/format/syftjson/model"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestHostImage scans an image made of this (Debian) host's package
// databases (hostLayers: about 700 dpkg packages with their file lists
// and copyright files, the npm packages of /usr/lib/node_modules, the
// Python packages' metadata, two Go binaries; three layers, the top one
// deleting an npm package) and checks that affix finds what syft's own
// API finds in it, package by package and relationship by relationship,
// and that two scans give the same documents. The fixture images are
// small and made up; this one has the size and the oddities (shared
// documentation directories, nested node_modules, egg-info files) of a
// real one. Skipped under -short and on a host without a dpkg database.
func TestHostImage(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: writing and scanning the host image takes seconds")
	}
	layers := hostLayers(t)
	dir := filepath.Join(t.TempDir(), "host")
	m, err := writeHostLayout(dir, layers)
	if err != nil {
		t.Fatalf("writing the host image: %v", err)
	}
	for _, l := range layers {
		t.Logf("layer %q: %d entries", l.what, len(l.files))
	}
	ours := scan(t, dir, m, Options{Formats: Formats()})
	t.Logf("affix: %s", ours.PackageSummary())

	t.Run("MatchesSyft", func(t *testing.T) {
		var a model.Document
		if err := json.Unmarshal(doc(t, ours, SyftJSON), &a); err != nil {
			t.Fatal(err)
		}
		b := syftOwnDocument(t, dir, *m.Platform)
		for _, d := range diffDocuments(a, b) {
			t.Error(d)
		}
		checkDeleted(t, "affix", a)
		checkDeleted(t, "syft", b)
	})
	t.Run("Deterministic", func(t *testing.T) {
		again := scan(t, dir, m, Options{Formats: Formats()})
		for i, d := range ours.Documents {
			if at := firstDiff(d.Data, again.Documents[i].Data); at >= 0 {
				t.Errorf("%s: two scans differ from byte %d: %q / %q", d.Format, at, around(d.Data, at), around(again.Documents[i].Data, at))
			}
		}
	})
}

// syftOwnDocument scans the platform image of the layout dir as syft does
// alone (syftOwnSBOM) and returns the syft JSON model of its SBOM.
func syftOwnDocument(t *testing.T, dir string, platform ocispec.Platform) model.Document {
	t.Helper()
	d := syftjson.ToFormatModel(*syftOwnSBOM(t, dir, platformString(&platform)), syftjson.EncoderConfig{})
	_, rels := viewPackages(d, nil)
	t.Logf("syft: %d packages (%s), %d files, relationships %v", len(d.Artifacts), typeCounts(d), len(d.Files), rels)
	return d
}

// typeCounts describes d's packages by type: "deb 706, npm 180".
func typeCounts(d model.Document) string {
	n := map[string]int{}
	for _, p := range d.Artifacts {
		n[string(p.Type)]++
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(n)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, n[k]))
	}
	return strings.Join(parts, ", ")
}

// pkgView is what is compared of a package: its identity, the fields
// syft derives from the image, and its relationships with the other
// ends named (a package by its label, a file by its path).
type pkgView struct {
	label     string
	purl      string
	foundBy   string
	language  string
	locations []string
	licenses  []string
	cpes      []string
	metadata  string
	rels      []string
}

// fields returns v's compared fields but the relationships, by name.
func (v *pkgView) fields() map[string]string {
	return map[string]string{
		"purl":      v.purl,
		"foundBy":   v.foundBy,
		"language":  v.language,
		"locations": strings.Join(v.locations, ", "),
		"licenses":  strings.Join(v.licenses, ", "),
		"cpes":      strings.Join(v.cpes, ", "),
		"metadata":  v.metadata,
	}
}

// pkgBase is a package's name, version and type.
func pkgBase(p model.Package) string { return string(p.Type) + "/" + p.Name + "@" + p.Version }

// diffDocuments returns every difference between the syft JSON models
// a (affix) and b (syft): packages one lists and the other does not, and
// for the others each field and relationship that differs; then the
// distribution, the relationship counts by type and the files.
func diffDocuments(a, b model.Document) []string {
	ambiguous := map[string]bool{} // name, version and type that several packages share
	for _, d := range []model.Document{a, b} {
		n := map[string]int{}
		for _, p := range d.Artifacts {
			if n[pkgBase(p)]++; n[pkgBase(p)] > 1 {
				ambiguous[pkgBase(p)] = true
			}
		}
	}
	va, ra := viewPackages(a, ambiguous)
	vb, rb := viewPackages(b, ambiguous)
	var out []string
	for _, l := range slices.Sorted(maps.Keys(va)) {
		if vb[l] == nil {
			out = append(out, fmt.Sprintf("%s: affix lists it, syft does not", l))
		}
	}
	for _, l := range slices.Sorted(maps.Keys(vb)) {
		pa, pb := va[l], vb[l]
		if pa == nil {
			out = append(out, fmt.Sprintf("%s: syft lists it, affix does not", l))
			continue
		}
		fa, fb := pa.fields(), pb.fields()
		for _, f := range slices.Sorted(maps.Keys(fa)) {
			if fa[f] != fb[f] {
				out = append(out, fmt.Sprintf("%s: %s: affix %q, syft %q", l, f, fa[f], fb[f]))
			}
		}
		if d := setDiff(pa.rels, pb.rels); d != "" {
			out = append(out, fmt.Sprintf("%s: relationships: %s", l, d))
		}
	}
	if ja, jb := mustJSON(a.Distro), mustJSON(b.Distro); ja != jb {
		out = append(out, fmt.Sprintf("distro: affix %s, syft %s", ja, jb))
	}
	if !maps.Equal(ra, rb) {
		out = append(out, fmt.Sprintf("relationships by type: affix %v, syft %v", ra, rb))
	}
	if d := setDiff(filePaths(a), filePaths(b)); d != "" {
		out = append(out, "files: "+d)
	}
	return out
}

// viewPackages returns d's packages by label (pkgBase, followed for an
// ambiguous one by its locations) and its relationships' counts by type.
func viewPackages(d model.Document, ambiguous map[string]bool) (map[string]*pkgView, map[string]int) {
	views, byID := map[string]*pkgView{}, map[string]*pkgView{}
	for _, p := range d.Artifacts {
		v := &pkgView{purl: p.PURL, foundBy: p.FoundBy, language: string(p.Language), metadata: mustJSON(p.Metadata)}
		for _, l := range p.Locations {
			v.locations = append(v.locations, fmt.Sprintf("%s (access %s, layer %s, %v)", l.RealPath, l.AccessPath, l.FileSystemID, l.Annotations))
		}
		slices.Sort(v.locations)
		for _, l := range p.Licenses {
			var at []string
			for _, loc := range l.Locations {
				at = append(at, loc.RealPath)
			}
			slices.Sort(at)
			v.licenses = append(v.licenses, fmt.Sprintf("%q=%q %s %v at %v", l.Value, l.SPDXExpression, l.Type, l.URLs, at))
		}
		slices.Sort(v.licenses)
		for _, c := range p.CPEs {
			v.cpes = append(v.cpes, c.Value+" ("+c.Source+")")
		}
		slices.Sort(v.cpes)
		v.label = pkgBase(p)
		if ambiguous[v.label] {
			v.label += " at " + strings.Join(v.locations, "; ")
		}
		views[v.label], byID[p.ID] = v, v
	}
	files := map[string]string{d.Source.ID: "the image"}
	for _, f := range d.Files {
		files[f.ID] = "file " + f.Location.RealPath
	}
	name := func(id string) string {
		if v := byID[id]; v != nil {
			return "package " + v.label
		}
		if f, ok := files[id]; ok {
			return f
		}
		return "id " + id
	}
	counts := map[string]int{}
	for _, r := range d.ArtifactRelationships {
		counts[r.Type]++
		if v := byID[r.Parent]; v != nil {
			v.rels = append(v.rels, r.Type+" to "+name(r.Child)+" "+mustJSON(r.Metadata))
		}
		if v := byID[r.Child]; v != nil {
			v.rels = append(v.rels, r.Type+" from "+name(r.Parent)+" "+mustJSON(r.Metadata))
		}
	}
	return views, counts
}

// filePaths returns the paths of d's files, each with its layer.
func filePaths(d model.Document) []string {
	var out []string
	for _, f := range d.Files {
		out = append(out, f.Location.RealPath+" (layer "+f.Location.FileSystemID+")")
	}
	return out
}

// setDiff describes what only a and only b hold, up to 10 of each, or
// returns "" when they hold the same strings as many times.
func setDiff(a, b []string) string {
	n := map[string]int{}
	for _, s := range a {
		n[s]++
	}
	for _, s := range b {
		n[s]--
	}
	var onlyA, onlyB []string
	for _, s := range slices.Sorted(maps.Keys(n)) {
		switch {
		case n[s] > 0:
			onlyA = append(onlyA, s)
		case n[s] < 0:
			onlyB = append(onlyB, s)
		}
	}
	if len(onlyA) == 0 && len(onlyB) == 0 {
		return ""
	}
	return fmt.Sprintf("only affix has %d: %s; only syft has %d: %s", len(onlyA), firstN(onlyA, 10), len(onlyB), firstN(onlyB, 10))
}

func firstN(s []string, n int) string {
	if len(s) > n {
		return strings.Join(s[:n], "; ") + "; ..."
	}
	return strings.Join(s, "; ")
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "unencodable: " + err.Error()
	}
	return string(b)
}

// checkDeleted fails the test when d lists a package or a file beneath
// hostDeleted, which the top layer of the host image deletes.
func checkDeleted(t *testing.T, who string, d model.Document) {
	t.Helper()
	deleted := "/" + hostDeleted + "/"
	for _, p := range d.Artifacts {
		for _, l := range p.Locations {
			if strings.HasPrefix(l.RealPath, deleted) {
				t.Errorf("%s lists %s at %s, which the top layer deletes", who, pkgBase(p), l.RealPath)
			}
		}
	}
	for _, f := range d.Files {
		if strings.HasPrefix(f.Location.RealPath, deleted) {
			t.Errorf("%s lists the file %s, which the top layer deletes", who, f.Location.RealPath)
		}
	}
}

// firstDiff returns the offset of the first byte where a and b differ,
// or -1 when they are equal.
func firstDiff(a, b []byte) int {
	if bytes.Equal(a, b) {
		return -1
	}
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// around returns up to 80 bytes of b around offset at.
func around(b []byte, at int) []byte {
	return b[max(0, at-40):min(len(b), at+40)]
}

package schemacheck

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// SPDX 2.3 identifier forms (clauses 3.2, 6.6, 10.1).
var (
	spdxElementID  = regexp.MustCompile(`^SPDXRef-[A-Za-z0-9.-]+$`)
	spdxDocumentID = regexp.MustCompile(`^DocumentRef-[A-Za-z0-9.-]+$`)
	spdxLicenseRef = regexp.MustCompile(`(?:DocumentRef-[A-Za-z0-9.-]+:)?LicenseRef-[A-Za-z0-9.-]+`)
)

// spdxCreated is the one form of creationInfo.created (clause 6.9):
// YYYY-MM-DDThh:mm:ssZ, UTC. time.Parse alone would also take fractional
// seconds.
var spdxCreated = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$`)

type spdxDoc struct {
	SPDXID            string   `json:"SPDXID"`
	DocumentNamespace string   `json:"documentNamespace"`
	DocumentDescribes []string `json:"documentDescribes"`
	CreationInfo      struct {
		Created  string   `json:"created"`
		Creators []string `json:"creators"`
	} `json:"creationInfo"`
	ExternalDocumentRefs []struct {
		ExternalDocumentID string `json:"externalDocumentId"`
	} `json:"externalDocumentRefs"`
	HasExtractedLicensingInfos []struct {
		LicenseID string `json:"licenseId"`
	} `json:"hasExtractedLicensingInfos"`
	Packages []struct {
		SPDXID               string   `json:"SPDXID"`
		HasFiles             []string `json:"hasFiles"`
		LicenseConcluded     string   `json:"licenseConcluded"`
		LicenseDeclared      string   `json:"licenseDeclared"`
		LicenseInfoFromFiles []string `json:"licenseInfoFromFiles"`
	} `json:"packages"`
	Files []struct {
		SPDXID             string   `json:"SPDXID"`
		LicenseConcluded   string   `json:"licenseConcluded"`
		LicenseInfoInFiles []string `json:"licenseInfoInFiles"`
	} `json:"files"`
	Snippets []struct {
		SPDXID           string `json:"SPDXID"`
		SnippetFromFile  string `json:"snippetFromFile"`
		LicenseConcluded string `json:"licenseConcluded"`
	} `json:"snippets"`
	Relationships []struct {
		SPDXElementID      string `json:"spdxElementId"`
		RelationshipType   string `json:"relationshipType"`
		RelatedSPDXElement string `json:"relatedSpdxElement"`
	} `json:"relationships"`
}

// CheckSPDX checks the rules of SPDX 2.3 a JSON schema does not express:
//   - the document's SPDXID is SPDXRef-DOCUMENT, every element's is
//     SPDXRef-[A-Za-z0-9.-]+ and unique in the document;
//   - every relationship names elements of the document (or of an
//     external document it declares; the related element may be NONE or
//     NOASSERTION), every hasFiles entry and snippetFromFile a file;
//   - the document describes at least one element, by documentDescribes
//     or by DESCRIBES relationships from SPDXRef-DOCUMENT (or
//     DESCRIBED_BY to it); when it has both, they name the same elements;
//   - documentNamespace is an absolute URI without a '#';
//   - creationInfo.created is YYYY-MM-DDThh:mm:ssZ, every creator starts
//     "Person: ", "Organization: " or "Tool: ";
//   - every LicenseRef- a license field uses is declared in
//     hasExtractedLicensingInfos.
//
// It reports every problem found.
func CheckSPDX(doc []byte) error {
	var d spdxDoc
	if err := json.Unmarshal(doc, &d); err != nil {
		return fmt.Errorf("SPDX document: %w", err)
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("SPDX: "+format, args...)) }

	if d.SPDXID != "SPDXRef-DOCUMENT" {
		bad("document SPDXID %q, want SPDXRef-DOCUMENT", d.SPDXID)
	}
	ids := map[string]string{d.SPDXID: "document"} // SPDXID -> kind
	files := map[string]bool{}
	define := func(kind, id string) {
		switch {
		case !spdxElementID.MatchString(id):
			bad("%s SPDXID %q is not SPDXRef-[A-Za-z0-9.-]+", kind, id)
		case ids[id] != "":
			bad("SPDXID %s of a %s is also a %s's", id, kind, ids[id])
		default:
			ids[id] = kind
		}
	}
	for _, p := range d.Packages {
		define("package", p.SPDXID)
	}
	for _, f := range d.Files {
		define("file", f.SPDXID)
		files[f.SPDXID] = true
	}
	for _, s := range d.Snippets {
		define("snippet", s.SPDXID)
	}

	external := map[string]bool{}
	for _, r := range d.ExternalDocumentRefs {
		if !spdxDocumentID.MatchString(r.ExternalDocumentID) {
			bad("externalDocumentId %q is not DocumentRef-[A-Za-z0-9.-]+", r.ExternalDocumentID)
		}
		external[r.ExternalDocumentID] = true
	}
	// resolves reports whether ref names an element of this document or
	// of an external document it declares.
	resolves := func(ref string) bool {
		if docRef, elem, ok := strings.Cut(ref, ":"); ok {
			return external[docRef] && spdxElementID.MatchString(elem)
		}
		return ids[ref] != ""
	}

	var described []string
	for i, r := range d.Relationships {
		if !resolves(r.SPDXElementID) {
			bad("relationships[%d] (%s %s %s): spdxElementId names no element", i, r.SPDXElementID, r.RelationshipType, r.RelatedSPDXElement)
		}
		if r.RelatedSPDXElement != "NONE" && r.RelatedSPDXElement != "NOASSERTION" && !resolves(r.RelatedSPDXElement) {
			bad("relationships[%d] (%s %s %s): relatedSpdxElement names no element", i, r.SPDXElementID, r.RelationshipType, r.RelatedSPDXElement)
		}
		switch {
		case r.RelationshipType == "DESCRIBES" && r.SPDXElementID == d.SPDXID:
			described = append(described, r.RelatedSPDXElement)
		case r.RelationshipType == "DESCRIBED_BY" && r.RelatedSPDXElement == d.SPDXID:
			described = append(described, r.SPDXElementID)
		}
	}
	for _, p := range d.Packages {
		for _, f := range p.HasFiles {
			if !files[f] {
				bad("package %s: hasFiles names %q, not a file of the document", p.SPDXID, f)
			}
		}
	}
	for _, s := range d.Snippets {
		if !files[s.SnippetFromFile] {
			bad("snippet %s: snippetFromFile names %q, not a file of the document", s.SPDXID, s.SnippetFromFile)
		}
	}

	for _, id := range d.DocumentDescribes {
		if !resolves(id) {
			bad("documentDescribes names %q, no element of the document", id)
		}
	}
	slices.Sort(described)
	described = slices.Compact(described)
	dd := slices.Compact(slices.Sorted(slices.Values(d.DocumentDescribes)))
	switch {
	case len(described) == 0 && len(dd) == 0:
		bad("the document describes nothing (no documentDescribes, no DESCRIBES relationship from %s)", d.SPDXID)
	case len(described) > 0 && len(dd) > 0 && !slices.Equal(described, dd):
		bad("documentDescribes %v and the DESCRIBES relationships %v disagree", dd, described)
	}

	if err := checkURI(d.DocumentNamespace); err != nil {
		bad("documentNamespace: %v", err)
	} else if strings.Contains(d.DocumentNamespace, "#") {
		bad("documentNamespace %q contains '#'", d.DocumentNamespace)
	}
	if _, err := time.Parse(time.RFC3339, d.CreationInfo.Created); err != nil || !spdxCreated.MatchString(d.CreationInfo.Created) {
		bad("creationInfo.created %q is not YYYY-MM-DDThh:mm:ssZ", d.CreationInfo.Created)
	}
	if len(d.CreationInfo.Creators) == 0 {
		bad("creationInfo.creators is empty")
	}
	for _, c := range d.CreationInfo.Creators {
		if !strings.HasPrefix(c, "Person: ") && !strings.HasPrefix(c, "Organization: ") && !strings.HasPrefix(c, "Tool: ") {
			bad("creator %q is not Person:, Organization: or Tool:", c)
		}
	}

	declared := map[string]bool{}
	for _, l := range d.HasExtractedLicensingInfos {
		declared[l.LicenseID] = true
	}
	useLicenses := func(where string, exprs ...string) {
		for _, e := range exprs {
			for _, ref := range spdxLicenseRef.FindAllString(e, -1) {
				if !strings.HasPrefix(ref, "DocumentRef-") && !declared[ref] {
					bad("%s uses %s, which hasExtractedLicensingInfos does not declare", where, ref)
				}
			}
		}
	}
	for _, p := range d.Packages {
		useLicenses("package "+p.SPDXID, append([]string{p.LicenseConcluded, p.LicenseDeclared}, p.LicenseInfoFromFiles...)...)
	}
	for _, f := range d.Files {
		useLicenses("file "+f.SPDXID, append([]string{f.LicenseConcluded}, f.LicenseInfoInFiles...)...)
	}
	for _, s := range d.Snippets {
		useLicenses("snippet "+s.SPDXID, s.LicenseConcluded)
	}
	return errors.Join(errs...)
}

// checkURI returns an error unless s is an absolute URI (RFC 3986): a
// scheme, then only characters a URI may hold, percent-escapes complete.
func checkURI(s string) error {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return fmt.Errorf("%q: incomplete percent-escape", s)
			}
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.IndexByte("-._~:/?#[]@!$&'()*+,;=", c) >= 0:
		default:
			return fmt.Errorf("%q: character %q is not allowed in a URI", s, c)
		}
	}
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if !u.IsAbs() {
		return fmt.Errorf("%q is not an absolute URI", s)
	}
	if (u.Scheme == "http" || u.Scheme == "https") && u.Host == "" {
		return fmt.Errorf("%q has no host", s)
	}
	return nil
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

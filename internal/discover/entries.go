package discover

import (
	"fmt"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/printable"
)

// maxNamed bounds the items a message names (the candidates skipped,
// the entries dropped): the first ones, then how many more there were.
// A registry may list thousands of entries that are all unusable.
const maxNamed = 5

// namedList collects the items of a message, keeping the first maxNamed
// and counting the rest: its memory does not grow with the items added.
type namedList struct {
	named []string
	more  int
}

// add adds s.
func (l *namedList) add(s string) {
	if len(l.named) < maxNamed {
		l.named = append(l.named, s)
		return
	}
	l.more++
}

// addAll adds the items of o, its counted ones counted.
func (l *namedList) addAll(o namedList) {
	for _, s := range o.named {
		l.add(s)
	}
	l.more += o.more
}

// len returns how many items were added.
func (l namedList) len() int { return len(l.named) + l.more }

// join joins the items named with sep, and says how many more there
// were.
func (l namedList) join(sep string) string {
	s := strings.Join(l.named, sep)
	if l.more > 0 {
		s += fmt.Sprintf("%s and %d more", sep, l.more)
	}
	return s
}

// EntryError says why the referrers-list entry d cannot be read: its
// digest is no valid digest (a registry, or the tool that wrote a
// referrers tag, may list anything there: a tag, a bare hex string);
// nil when it is one. Reading such an entry would ask the registry for
// whatever it names, and its digest's methods would panic.
func EntryError(d ocispec.Descriptor) error {
	if err := d.Digest.Validate(); err != nil {
		return fmt.Errorf("entry %s (%s): %w", quoteDigest(d.Digest), printable.String(clip(d.ArtifactType)), err)
	}
	return nil
}

// ValidEntries returns the entries of refs whose digest is valid
// (EntryError), and, when some are not, an error that says how many were
// dropped and names the first few (refs is returned as it is when all
// are valid).
func ValidEntries(refs []ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	first := -1
	for i, d := range refs {
		if EntryError(d) != nil {
			first = i
			break
		}
	}
	if first < 0 {
		return refs, nil
	}
	valid := make([]ocispec.Descriptor, first, len(refs)-1)
	copy(valid, refs[:first])
	var bad namedList
	for _, d := range refs[first:] {
		if err := EntryError(d); err != nil {
			bad.add(err.Error())
			continue
		}
		valid = append(valid, d)
	}
	entries := "entries"
	if bad.len() == 1 {
		entries = "entry"
	}
	return valid, fmt.Errorf("%d %s without a valid digest: %s", bad.len(), entries, bad.join("; "))
}

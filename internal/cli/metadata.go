package cli

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/frontend"
	"github.com/affix-oci/affix/internal/oci"
)

// pushMetadata is the --metadata-file document of push and attach.
type pushMetadata struct {
	// Index is the root pushed (absent for attach).
	Index *ocispec.Descriptor `json:"index,omitempty"`
	// SourceIndex is the source root's digest when it differs (stripped
	// attestations).
	SourceIndex digest.Digest `json:"sourceIndex,omitempty"`
	// Tag is REF as written (with its first tag).
	Tag string `json:"tag,omitempty"`
	// Tags are the references written (push), in order: REF, then one
	// per other tag of its tag list; as affix build's tags.
	Tags []string `json:"tags,omitempty"`
	// Platforms are the platform manifests and their referrers.
	Platforms []platformMeta `json:"platforms"`
	// LayoutReferrers are the referrers the source layout held for the
	// image beside its SBOMs (signatures, VEX documents, ...), pushed as
	// they are.
	LayoutReferrers []layoutReferrerMeta `json:"layoutReferrers,omitempty"`
	// CopiedReferrers are the referrers merge copied from other
	// repositories (SBOMs, signatures, referrers of those), each with its
	// subject, in the order they were planned.
	CopiedReferrers []layoutReferrerMeta `json:"copiedReferrers,omitempty"`
	// CosignTags are cosign's tags (sha256-<hex>.sig, .att, .sbom) merge
	// copied from other repositories, each with the manifest it is of
	// (subject) and its own manifest's digest; absent when none.
	CosignTags []cosignTagMeta `json:"cosignTags,omitempty"`
	// StrippedAttestations are the attestation manifests left out.
	StrippedAttestations []digest.Digest `json:"strippedAttestations,omitempty"`
	// ReferrersMode is "api", "tag-schema" or (a layout) "oci-layout", by
	// repository (exporter.Result.Modes): "tag-schema" when any referrer
	// written went into a referrers tag, "api" when the registry answered
	// every referrer's PUT with OCI-Subject.
	ReferrersMode map[string]exporter.Mode `json:"referrersMode"`
	// Requests counts registry requests by method; RequestsTotal sums them.
	Requests      map[string]int `json:"requests"`
	RequestsTotal int            `json:"requestsTotal"`
	// Blobs counts the blobs by what the push did with them: found in the
	// registry, mounted (--mount-from), uploaded.
	Blobs *exporter.BlobCounts `json:"blobs,omitempty"`

	// fromOtherRepos says a merge had images of other repositories,
	// whose referrers it copies; referrersPresent counts those it did not
	// copy, REF's repository listing them already. The summary only.
	fromOtherRepos   bool
	referrersPresent int
	// cosignPresent counts cosign's tags REF's repository had already,
	// cosignKept those it had with another manifest (left as they are).
	cosignPresent, cosignKept int
}

// cosignTagMeta is one of cosign's tags merge copied.
type cosignTagMeta struct {
	Tag     string        `json:"tag"`
	Subject digest.Digest `json:"subject"`
	Digest  digest.Digest `json:"digest"`
}

type platformMeta struct {
	Platform  string         `json:"platform"`
	Digest    digest.Digest  `json:"digest"`
	Referrers []referrerMeta `json:"referrers"`
}

type referrerMeta struct {
	Digest       digest.Digest `json:"digest"`
	ArtifactType string        `json:"artifactType"`
	Format       string        `json:"format,omitempty"`
	// Repositories are the repositories a build pushed the referrer to:
	// each repository gets the SBOMs that name it.
	Repositories []string `json:"repositories,omitempty"`
}

// attachedRef is one referrer attached, the format of its SBOM ("" for
// other artifacts), and the repositories a build attached it in.
type attachedRef struct {
	desc   ocispec.Descriptor
	format string
	repos  []string
}

func (r attachedRef) meta() referrerMeta {
	return referrerMeta{Digest: r.desc.Digest, ArtifactType: r.desc.ArtifactType, Format: r.format, Repositories: r.repos}
}

// allAttacher attaches several referrers at once (exporter.Push).
type allAttacher interface {
	AttachAll(ctx context.Context, arts []exporter.Artifact) ([]ocispec.Descriptor, error)
}

// attachTogether attaches refs, the SBOMs of img (one per --sbom-format),
// with one AttachAll rather than one Attach after the other: where the
// registry has no referrers API, the referrers index of img is then read,
// written and verified once for all of them, not once per format. It
// records each SBOM attached in log under its format, in order (and in the
// progress task of ctx, if any), and returns the failures, each naming
// its referrer.
func attachTogether(ctx context.Context, p allAttacher, img oci.Image, refs []sbomReferrer, log *referrerLog, repo string) error {
	arts := make([]exporter.Artifact, len(refs))
	for i, r := range refs {
		arts[i] = r.artifact
	}
	descs, err := p.AttachAll(ctx, arts)
	for i, d := range descs {
		if d.Digest == "" {
			continue // failed: err says why
		}
		frontend.Logf(ctx, "%s referrer %s", refs[i].format, d.Digest)
		log.add(img.Descriptor.Digest, refs[i].format.String(), d, repo)
	}
	return err
}

// referrerLog records the referrers attached, by subject, for the summary
// and the metadata file of build, push and attach. A referrer attached
// more than once (the --output layout of a build gets the artifacts of its
// first repository, hence their digests) is recorded once, with every
// repository named.
type referrerLog struct {
	mu  sync.Mutex
	ref map[digest.Digest][]attachedRef
}

// add records d, attached to subject in repo ("" for none to name).
func (a *referrerLog) add(subject digest.Digest, format string, d ocispec.Descriptor, repo string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ref == nil {
		a.ref = map[digest.Digest][]attachedRef{}
	}
	refs := a.ref[subject]
	i := slices.IndexFunc(refs, func(r attachedRef) bool { return r.desc.Digest == d.Digest })
	if i < 0 {
		refs = append(refs, attachedRef{desc: d, format: format})
		i = len(refs) - 1
	}
	if repo != "" && !slices.Contains(refs[i].repos, repo) {
		refs[i].repos = append(refs[i].repos, repo)
		slices.Sort(refs[i].repos)
	}
	// In format order, then by first repository: the same order whatever
	// finished first.
	slices.SortFunc(refs, func(x, y attachedRef) int {
		return cmp.Or(strings.Compare(x.format, y.format), slices.Compare(x.repos, y.repos))
	})
	a.ref[subject] = refs
}

// get returns the referrers of subject, in format order.
func (a *referrerLog) get(subject digest.Digest) []attachedRef {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.ref[subject])
}

// platformMetas returns the metadata of each platform image with the
// referrers attached to it.
func platformMetas(platforms []oci.Image, attached *referrerLog) []platformMeta {
	var out []platformMeta
	for _, img := range platforms {
		pm := platformMeta{Platform: img.String(), Digest: img.Descriptor.Digest, Referrers: []referrerMeta{}}
		for _, a := range attached.get(img.Descriptor.Digest) {
			pm.Referrers = append(pm.Referrers, a.meta())
		}
		out = append(out, pm)
	}
	return out
}

// newMetadata returns the --metadata-file document of a push or attach
// whose result is res.
func newMetadata(res *exporter.Result, tag string, platforms []oci.Image, attached *referrerLog, counter *exporter.Counter) *pushMetadata {
	m := &pushMetadata{
		Tag:           tag,
		ReferrersMode: res.Modes,
		Requests:      counter.Counts(),
		RequestsTotal: counter.Total(),
	}
	if b := res.Blobs; b != (exporter.BlobCounts{}) {
		m.Blobs = &b
	}
	if res.Root.Digest != "" {
		root := res.Root
		m.Index = &root
		if res.SourceRoot.Digest != res.Root.Digest {
			m.SourceIndex = res.SourceRoot.Digest
		}
	}
	for _, s := range res.Stripped {
		m.StrippedAttestations = append(m.StrippedAttestations, s.Digest)
	}
	m.Platforms = platformMetas(platforms, attached)
	return m
}

// printPush prints the summary of a push or attach on w.
func printPush(w io.Writer, m *pushMetadata, res *exporter.Result) {
	if m.Index != nil {
		fmt.Fprintf(w, "pushed %s@%s\n", m.Tag, m.Index.Digest)
		if len(m.Tags) > 1 {
			fmt.Fprintf(w, "  also tagged %s\n", strings.Join(m.Tags[1:], ", "))
		}
		if m.SourceIndex != "" {
			fmt.Fprintf(w, "  %d attestation manifests stripped: new index digest (source index %s)\n", len(m.StrippedAttestations), m.SourceIndex)
		}
	}
	for _, p := range m.Platforms {
		fmt.Fprintf(w, "  %-14s %s\n", p.Platform, p.Digest)
		for _, r := range p.Referrers {
			fmt.Fprintf(w, "    %-14s %s %s\n", r.Format, r.Digest, r.ArtifactType)
		}
	}
	if n := len(m.LayoutReferrers); n > 0 {
		as := "as they are"
		if n == 1 {
			as = "as it is"
		}
		fmt.Fprintf(w, "  %s from the layout, pushed %s\n", plural(n, "more referrer"), as)
	}
	if n := len(m.CopiedReferrers); n > 0 || m.fromOtherRepos {
		fmt.Fprintf(w, "  %s\n", copiedSummary(n, m.referrersPresent))
	}
	if line := cosignSummary(len(m.CosignTags), m.cosignPresent, m.cosignKept); line != "" {
		fmt.Fprintf(w, "  %s\n", line)
	}
	for repo, mode := range res.Modes {
		if strings.HasPrefix(repo, oci.SchemeLayout+":") {
			fmt.Fprintf(w, "referrers: listed in the layout's index.json (%s)\n", repo)
			continue
		}
		fmt.Fprintf(w, "referrers: %s (%s)\n", mode, repo)
	}
	if m.RequestsTotal > 0 {
		fmt.Fprintf(w, "registry requests: %d (%s)\n", m.RequestsTotal, formatCounts(m.Requests))
	}
}

// copiedSummary is the summary line of a merge from other repositories:
// how many referrers it copied, and how many it did not, REF's
// repository listing them already (all of them, on a rerun).
func copiedSummary(copied, present int) string {
	var already string
	switch present {
	case 0:
	case 1:
		already = "1 more was in REF's repository already"
	default:
		already = fmt.Sprintf("%d more were in REF's repository already", present)
	}
	switch {
	case copied == 0 && present == 0:
		return "no referrer copied from other repositories: they list none to copy"
	case copied == 0 && present == 1:
		return "no referrer copied from other repositories: the one they list is in REF's repository already"
	case copied == 0:
		return fmt.Sprintf("no referrer copied from other repositories: the %d they list are in REF's repository already", present)
	case present == 0:
		return fmt.Sprintf("%s copied from other repositories, SBOMs included", plural(copied, "referrer"))
	default:
		return fmt.Sprintf("%s copied from other repositories, SBOMs included; %s", plural(copied, "referrer"), already)
	}
}

// cosignSummary is the summary line of a merge on cosign's tags: how
// many it copied, how many REF's repository had already, and how many it
// had with another manifest (left as they are); "" for none.
func cosignSummary(copied, present, kept int) string {
	if copied+present+kept == 0 {
		return ""
	}
	line := plural(copied, "cosign tag") + " copied from other repositories (sha256-<hex>.sig, .att, .sbom)"
	var more []string
	if present > 0 {
		more = append(more, fmt.Sprintf("%d in REF's repository already", present))
	}
	if kept > 0 {
		more = append(more, fmt.Sprintf("%d left as REF's repository has them (another manifest)", kept))
	}
	if len(more) > 0 {
		line += "; " + strings.Join(more, ", ")
	}
	return line
}

// formatCounts formats request counts as "GET 3, PUT 2", by method.
func formatCounts(c map[string]int) string {
	var keys []string
	for k := range c {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var s []string
	for _, k := range keys {
		s = append(s, fmt.Sprintf("%s %d", k, c[k]))
	}
	return strings.Join(s, ", ")
}

package exporter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Dangling entries of a referrers tag.
//
// A referrers tag lists referrer manifests by digest. One deleted since
// (DELETE of an SBOM manifest by digest) stays listed, and a registry
// that checks the manifests an index lists (distribution 2.8 and v3)
// then refuses every write of the tag that still lists it: 400
// MANIFEST_BLOB_UNKNOWN, naming the digests it lacks. Nobody could add a
// referrer to that subject again. A registry with the referrers API drops
// a deleted referrer from its list; on one without it the writer does:
// when a write is refused so, the entries the refusal names are checked
// with a HEAD each, those the registry answers 404 for are dropped (with
// a warning), and the index is read again and written without them,
// within the bound of writes of the caller. Only such a refusal leads to checks (a registry that
// takes an index listing a manifest it lacks, as olareg does while the
// blob is in its store, keeps the entry): a write costs no HEAD of the
// entries it lists. This push's own entries are never dropped, nor one
// the registry still has (a refusal that HEAD contradicts is an error,
// not a loop).

// maxDanglingChecks bounds the HEADs one refused write costs: the entries
// the refusal names, or, when it names none that the index lists, the
// first entries listed.
const maxDanglingChecks = 32

// refusedCodes are the error codes of a manifest PUT refused for a
// manifest or blob it references that the registry does not have
// (distribution: MANIFEST_BLOB_UNKNOWN, naming each digest).
var refusedCodes = []string{"MANIFEST_BLOB_UNKNOWN", "MANIFEST_UNKNOWN", "BLOB_UNKNOWN"}

// digestRE finds digests in a registry's error answer.
var digestRE = regexp.MustCompile(`(?:sha256|sha384|sha512):[a-f0-9]{64,128}`)

// manifestRefsUnknown reports whether err is a registry's refusal (400)
// of a manifest PUT because the manifest references a manifest or blob
// the registry does not have (refusedCodes), and returns the digests the
// refusal names, each once, in order.
func manifestRefsUnknown(err error) ([]digest.Digest, bool) {
	var re *ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusBadRequest {
		return nil, false
	}
	body := re.body
	if body == "" {
		body = re.Detail
	}
	var answer struct {
		Errors []struct {
			Code    string          `json:"code"`
			Message string          `json:"message"`
			Detail  json.RawMessage `json:"detail"`
		} `json:"errors"`
	}
	var texts []string
	if json.Unmarshal([]byte(body), &answer) == nil && len(answer.Errors) > 0 {
		for _, e := range answer.Errors {
			if slices.Contains(refusedCodes, e.Code) {
				texts = append(texts, string(e.Detail), e.Message)
			}
		}
		if len(texts) == 0 {
			return nil, false
		}
	} else {
		// Cut short, or not the JSON of the distribution spec.
		if !slices.ContainsFunc(refusedCodes, func(c string) bool { return strings.Contains(body, c) }) {
			return nil, false
		}
		texts = []string{body}
	}
	var named []digest.Digest
	for _, t := range texts {
		for _, s := range digestRE.FindAllString(t, -1) {
			d := digest.Digest(s)
			if d.Validate() == nil && !slices.Contains(named, d) {
				named = append(named, d)
			}
		}
	}
	return named, true
}

// drop takes every entry with digest d out of ri, and records it in
// ri.dropped.
func (ri *referrersIndex) drop(d digest.Digest) {
	ri.index.Manifests = slices.DeleteFunc(slices.Clone(ri.index.Manifests), func(m ocispec.Descriptor) bool { return m.Digest == d })
	delete(ri.raw, d)
	ri.dropped = append(ri.dropped, d)
}

// ownEntry reports whether d is a referrer of subject this push wrote or
// is writing: in extra (the entries of the write under way), verified,
// under verification, written for a call that gave up, queued, or
// attached. The caller does not hold p.mu.
func (p *Push) ownEntry(subject, d digest.Digest, extra []ocispec.Descriptor) bool {
	is := func(e ocispec.Descriptor) bool { return e.Digest == d }
	if slices.ContainsFunc(extra, is) {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.indexOf(subject)
	switch {
	case slices.ContainsFunc(s.verified, is), slices.Contains(s.unverified, d):
		return true
	case s.verify != nil && slices.ContainsFunc(s.verify.entries, func(e *verifyEntry) bool { return e.desc.Digest == d }):
		return true
	case slices.ContainsFunc(s.queue, func(w *indexWait) bool { return w.entry.Digest == d }):
		return true
	}
	return slices.ContainsFunc(p.referrers, func(r Referrer) bool { return r.Subject == subject && r.Descriptor.Digest == d })
}

// writeIndex writes ri, the referrers index of subject, as
// writeReferrersIndex does. When the registry refuses it for a manifest
// it lists that the registry lacks, it drops the entries found gone
// (pruneDangling) and writes the tag as read again without them
// (rereadPruned). writes counts the writes, with the
// caller's: none is made once it reaches maxWriteAttempts. own are the
// entries of the caller's write, never dropped (nor any other of this
// push's: ownEntry). Once a write succeeds it warns about each entry
// dropped, as gone or as malformed (readReferrersIndex).
func (p *Push) writeIndex(ctx context.Context, subject digest.Digest, ri *referrersIndex, own []ocispec.Descriptor, writes *int) error {
	// present are the entries a HEAD found, checked once per call.
	present := map[digest.Digest]bool{}
	for {
		*writes++
		err := writeReferrersIndex(ctx, p.target, subject, ri)
		if err == nil {
			for _, d := range ri.dropped {
				p.warnf("%s: referrer %s of %s is gone from the registry (deleted): dropped it from the referrers tag %s, which the registry refused to update while it was listed",
					p.target.Name(), d, subject, ReferrersTag(subject))
			}
			for _, why := range ri.malformed {
				p.warnf("%s: the referrers tag %s of %s listed a malformed entry (%s): dropped it from the tag",
					p.target.Name(), ReferrersTag(subject), subject, why)
			}
			return nil
		}
		if _, ok := manifestRefsUnknown(err); !ok {
			return err
		}
		if *writes >= maxWriteAttempts {
			return fmt.Errorf("%w (gave up after %d writes)", err, *writes)
		}
		if err := p.pruneDangling(ctx, subject, ri, err, own, present); err != nil {
			return err
		}
		if err := p.rereadPruned(ctx, subject, ri, own); err != nil {
			return err
		}
	}
}

// rereadPruned replaces ri, pruned of gone entries, by a fresh read of the
// referrers index of subject, with the same entries dropped and this
// push's entries (own, and those of ri ownEntry names) added: what is
// written next is the tag as it is now. Writing ri as read before the
// refused write and the HEADs would drop an entry another writer added
// meanwhile, on a registry that ignores If-Match (distribution), after
// that writer may have verified it. A read that finds no tag where ri had
// one (a stale replica) is not trusted: ri is written as it is, as a
// verification does not merge back onto a missing tag.
func (p *Push) rereadPruned(ctx context.Context, subject digest.Digest, ri *referrersIndex, own []ocispec.Descriptor) error {
	fresh, err := readReferrersIndex(ctx, p.target, subject)
	if err != nil {
		return refuseOverwrite(err)
	}
	if fresh.absent && !ri.absent {
		return nil
	}
	dropped := ri.dropped
	for _, d := range dropped {
		if fresh.has(d) {
			fresh.drop(d)
		}
	}
	fresh.dropped = dropped
	for _, m := range ri.index.Manifests {
		if !fresh.has(m.Digest) && p.ownEntry(subject, m.Digest, own) {
			fresh.add(m)
		}
	}
	for _, e := range own {
		fresh.add(e)
	}
	*ri = *fresh
	return nil
}

// pruneDangling follows refused, the registry's refusal of a write of
// ri, the referrers index of subject, for a manifest it lists that the
// registry lacks. It checks with a HEAD each the entries the refusal
// names, or when it names none that ri lists, the entries ri lists, at
// most maxDanglingChecks, leaving out this push's own (own and ownEntry)
// and those present holds (found before), and drops from ri those the
// registry does not have. It returns nil when it dropped any, so that ri
// is written again; else an error that says why none was, wrapping
// refused. present gains the entries a HEAD found.
func (p *Push) pruneDangling(ctx context.Context, subject digest.Digest, ri *referrersIndex, refused error, own []ocispec.Descriptor, present map[digest.Digest]bool) error {
	names, _ := manifestRefsUnknown(refused)
	named := make(map[digest.Digest]bool, len(names))
	for _, d := range names {
		named[d] = true
	}
	// listed are the entries of ri, each once (an index may list a
	// digest twice: another writer's duplicates).
	seen := make(map[digest.Digest]bool, len(ri.index.Manifests))
	var listed []ocispec.Descriptor
	nameless := true
	for _, m := range ri.index.Manifests {
		if !seen[m.Digest] {
			seen[m.Digest] = true
			listed = append(listed, m)
			nameless = nameless && !named[m.Digest]
		}
	}
	var why []string
	var check []ocispec.Descriptor
	more := 0
	for _, m := range listed {
		if !nameless && !named[m.Digest] {
			continue
		}
		if len(check) == maxDanglingChecks {
			more++
			continue
		}
		switch {
		case p.ownEntry(subject, m.Digest, own):
			if !nameless {
				why = append(why, fmt.Sprintf("%s is a referrer this push wrote", m.Digest))
			}
		case present[m.Digest]:
			if !nameless {
				why = append(why, fmt.Sprintf("the registry has %s (a HEAD finds it; try again later)", m.Digest))
			}
		default:
			check = append(check, m)
		}
	}
	if more > 0 {
		why = append(why, fmt.Sprintf("%d more entries not checked", more))
	}
	dropped := 0
	for _, m := range check {
		gone, err := p.manifestGone(ctx, m)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return err
			}
			why = append(why, fmt.Sprintf("checking %s: %v", m.Digest, err))
		case gone:
			p.logf("referrer %s listed in %s is gone from the registry; dropping it", m.Digest, ReferrersTag(subject))
			ri.drop(m.Digest)
			dropped++
		default:
			present[m.Digest] = true
			if !nameless {
				why = append(why, fmt.Sprintf("the registry has %s (a HEAD finds it; try again later)", m.Digest))
			}
		}
	}
	if dropped > 0 {
		return nil
	}
	if nameless {
		why = append(why, fmt.Sprintf("the refusal names no entry of the tag, and none of the %d checked is gone", len(check)))
	}
	return fmt.Errorf("%w: the registry says the tag lists a manifest it lacks, and no entry was dropped: %s", refused, strings.Join(why, "; "))
}

// manifestGone reports whether the target does not have the manifest m
// (a HEAD answered 404, or a GET when the target cannot HEAD).
func (p *Push) manifestGone(ctx context.Context, m ocispec.Descriptor) (bool, error) {
	d := ocispec.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: m.Size}
	if mc, ok := p.target.(ManifestChecker); ok {
		ok, err := mc.ManifestExists(ctx, d)
		return !ok && err == nil, err
	}
	_, _, _, err := p.target.FetchManifest(ctx, m.Digest.String())
	if errors.Is(err, ErrNotFound) {
		return true, nil
	}
	return false, err
}

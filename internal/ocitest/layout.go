package ocitest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// LayoutFetch returns a Fetch reading the blobs of the image layout at dir.
func LayoutFetch(dir string) Fetch {
	return func(_ context.Context, d ocispec.Descriptor) ([]byte, error) {
		if err := d.Digest.Validate(); err != nil {
			return nil, err
		}
		p := filepath.Join(dir, ocispec.ImageBlobsDir, d.Digest.Algorithm().String(), d.Digest.Encoded())
		b, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w", p, ErrMissing)
		}
		return b, err
	}
}

// referrersTagRE is a referrers tag of a sha256 digest: the whole digest.
var referrersTagRE = regexp.MustCompile(`^sha256-([a-f0-9]{64})$`)

// Layout validates the OCI image layout at dir (image-spec
// image-layout.md): the oci-layout file (ValidateDocument), index.json (an
// image index, ValidateDocument), the blobs directory, every file in
// blobs/<alg>/ named by the digest of its content, and each index.json
// entry with Tree; an entry tagged sha256-<hex> that is an image index is
// also a referrers tag schema index of that digest (ReferrersIndex), as
// regctl reads one. Every blob an entry references must be in the layout
// (the spec lets a layout lack some; affix's layouts do not). It reports
// every problem found.
func Layout(ctx context.Context, dir string) error {
	var p problems
	if b, err := os.ReadFile(filepath.Join(dir, ocispec.ImageLayoutFile)); err != nil {
		p.addf("%s: %w (image-spec image-layout.md: it MUST exist)", ocispec.ImageLayoutFile, err)
	} else if err := ValidateDocument(ocispec.MediaTypeLayoutHeader, b); err != nil {
		p.addf("%s: %w", ocispec.ImageLayoutFile, err)
	}
	p.add(checkBlobs(dir))
	b, err := os.ReadFile(filepath.Join(dir, ocispec.ImageIndexFile))
	if err != nil {
		p.addf("%s: %w (image-spec image-layout.md: it MUST exist)", ocispec.ImageIndexFile, err)
		return p.err()
	}
	if err := ValidateDocument(ocispec.MediaTypeImageIndex, b); err != nil {
		p.addf("%s: %w", ocispec.ImageIndexFile, err)
	}
	var idx indexDoc
	if err := json.Unmarshal(b, &idx); err != nil {
		p.addf("%s: %w", ocispec.ImageIndexFile, err)
		return p.err()
	}
	fetch := LayoutFetch(dir)
	w := newWalker(fetch)
	w.entries(ctx, ocispec.ImageIndexFile, idx.Manifests)
	p.add(w.err())
	for i, e := range idx.Manifests {
		m := referrersTagRE.FindStringSubmatch(e.Annotations[ocispec.AnnotationRefName])
		if m == nil || e.MediaType != ocispec.MediaTypeImageIndex {
			continue
		}
		tb, err := fetch(ctx, e)
		if err != nil {
			continue // the walk reported it
		}
		if err := ReferrersIndex(ctx, fetch, digest.NewDigestFromEncoded(digest.SHA256, m[1]), tb); err != nil {
			p.addf("%s manifests[%d] (tag %s): %w", ocispec.ImageIndexFile, i, m[0], err)
		}
	}
	return p.err()
}

// checkBlobs checks the blobs directory of the layout at dir: it exists,
// and every file in blobs/<alg>/ is named <encoded> by the digest of its
// content (image-spec image-layout.md, Blobs).
func checkBlobs(dir string) error {
	var p problems
	root := filepath.Join(dir, ocispec.ImageBlobsDir)
	algs, err := os.ReadDir(root)
	if err != nil {
		p.addf("%s: %w (image-spec image-layout.md: the blobs directory MUST exist)", ocispec.ImageBlobsDir, err)
		return p.err()
	}
	for _, a := range algs {
		if !a.IsDir() {
			p.addf("%s/%s: not a directory (image-spec image-layout.md: blobs/<alg>/<encoded>)", ocispec.ImageBlobsDir, a.Name())
			continue
		}
		files, err := os.ReadDir(filepath.Join(root, a.Name()))
		if err != nil {
			p.add(err)
			continue
		}
		for _, f := range files {
			rel := ocispec.ImageBlobsDir + "/" + a.Name() + "/" + f.Name()
			d := digest.Digest(a.Name() + ":" + f.Name())
			if err := d.Validate(); err != nil {
				p.addf("%s: the name is not a digest: %v (image-spec image-layout.md: names MUST match the digest grammar)", rel, err)
				continue
			}
			if !f.Type().IsRegular() {
				p.addf("%s: not a regular file", rel)
				continue
			}
			b, err := os.ReadFile(filepath.Join(root, a.Name(), f.Name()))
			if err != nil {
				p.add(err)
				continue
			}
			if got := d.Algorithm().FromBytes(b); got != d {
				p.addf("%s: the content's digest is %s (image-spec image-layout.md: the content of blobs/<alg>/<encoded> MUST match the digest)", rel, got)
			}
		}
	}
	return p.err()
}

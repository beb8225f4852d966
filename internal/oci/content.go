package oci

import (
	"bytes"
	"context"
	_ "crypto/sha256" // registers the digest algorithms go-digest uses
	_ "crypto/sha512"
	"encoding/json"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// MaxManifestSize bounds how much of a manifest or index is read into memory.
// The distribution spec asks registries to accept manifests up to 4 MiB.
const MaxManifestSize = 4 << 20

// Fetcher fetches content by descriptor. It has the method set of
// oras-go's content.Fetcher, so a remote repository satisfies it as well as
// a Layout does.
type Fetcher interface {
	Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error)
}

// VerifyingFetcher is a Fetcher whose Fetch checks what it serves against
// the descriptor (size and digest) and fails the read otherwise, as a
// Layout and a registry repository (exporter.Remote) do: a caller need
// not hash it again.
type VerifyingFetcher interface {
	Fetcher
	// FetchVerifies marks the implementation; it does nothing.
	FetchVerifies()
}

// FetcherFunc adapts a function to a Fetcher.
type FetcherFunc func(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error)

// Fetch calls f.
func (f FetcherFunc) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	return f(ctx, desc)
}

// VerifyReader returns a reader that yields r's bytes and, at the end,
// fails with ErrDigestMismatch unless exactly desc.Size bytes were read and
// they hash to desc.Digest. It never yields more than desc.Size bytes.
func VerifyReader(r io.Reader, desc ocispec.Descriptor) io.Reader {
	if err := desc.Digest.Validate(); err != nil {
		return errReader{fmt.Errorf("descriptor digest %q: %w", desc.Digest, err)}
	}
	return &verifyReader{
		r:    io.LimitReader(r, desc.Size+1),
		v:    desc.Digest.Verifier(),
		desc: desc,
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

type verifyReader struct {
	r    io.Reader
	v    digest.Verifier
	desc ocispec.Descriptor
	n    int64
	err  error
}

func (vr *verifyReader) Read(p []byte) (int, error) {
	if vr.err != nil {
		return 0, vr.err
	}
	n, err := vr.r.Read(p)
	vr.n += int64(n)
	if vr.n > vr.desc.Size {
		vr.err = fmt.Errorf("%s: more than the %d bytes its descriptor declares: %w", vr.desc.Digest, vr.desc.Size, ErrDigestMismatch)
		return 0, vr.err
	}
	vr.v.Write(p[:n])
	if err == io.EOF {
		switch {
		case vr.n != vr.desc.Size:
			vr.err = fmt.Errorf("%s: %d bytes, its descriptor declares %d: %w", vr.desc.Digest, vr.n, vr.desc.Size, ErrDigestMismatch)
		case !vr.v.Verified():
			vr.err = fmt.Errorf("%s: %w", vr.desc.Digest, ErrDigestMismatch)
		default:
			vr.err = io.EOF
		}
		return n, vr.err
	}
	if err != nil {
		vr.err = err
	}
	return n, err
}

// initialBlobBuffer bounds what ReadBlob allocates before content
// arrives.
const initialBlobBuffer = 1 << 20

// ReadBlob fetches desc and returns its bytes, verified against the
// descriptor. It refuses content larger than limit bytes (0 means
// MaxManifestSize) before reading it, and allocates for the content as
// it arrives, not for the size desc declares.
func ReadBlob(ctx context.Context, f Fetcher, desc ocispec.Descriptor, limit int64) ([]byte, error) {
	if limit <= 0 {
		limit = MaxManifestSize
	}
	if desc.Size > limit {
		return nil, fmt.Errorf("%s: %d bytes exceeds the limit of %d: %w", desc.Digest, desc.Size, limit, ErrTooLarge)
	}
	if desc.Size < 0 {
		return nil, fmt.Errorf("%s: negative size %d: %w", desc.Digest, desc.Size, ErrDigestMismatch)
	}
	if len(desc.Data) > 0 && int64(len(desc.Data)) == desc.Size && desc.Digest.Validate() == nil && desc.Digest.Algorithm().FromBytes(desc.Data) == desc.Digest {
		return desc.Data, nil
	}
	rc, err := f.Fetch(ctx, desc)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if v, ok := rc.(*VerifiedBytes); ok && v.digest == desc.Digest && int64(len(v.data)) == desc.Size {
		return v.data, nil
	}
	// desc.Size is what the descriptor claims, not what arrives: a
	// manifest from a registry may declare limit-sized layers and send
	// a few bytes. Memory grows with the bytes received.
	return readSized(VerifyReader(rc, desc), desc.Size, min(desc.Size, initialBlobBuffer))
}

// readSized reads r, which yields at most size bytes, to its end. It
// starts with a buffer of initial bytes and doubles it as content
// arrives, up to size: the buffer is never more than twice the bytes
// read, nor more than size, and content of exactly size bytes ends in a
// slice of that capacity. (Growing by append, a quarter at a time for
// large slices, cost a 32 MiB blob 186 MB of allocations.) initial may be
// size when size is known to be true (a file's, checked by stat).
func readSized(r io.Reader, size, initial int64) ([]byte, error) {
	buf := make([]byte, 0, max(min(initial, size), 0))
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) >= size {
				// All the bytes there can be are in: the next read must
				// end the content (r fails it otherwise).
				var probe [1]byte
				n, err := r.Read(probe[:])
				switch {
				case n > 0:
					return nil, fmt.Errorf("more than %d bytes: %w", size, ErrDigestMismatch)
				case err == io.EOF:
					return buf, nil
				case err != nil:
					return nil, err
				}
				continue
			}
			// Exactly twice (not append's rounding), at most size.
			grown := make([]byte, len(buf), int64(len(buf))+min(max(int64(cap(buf)), 512), size-int64(len(buf))))
			copy(grown, buf)
			buf = grown
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// VerifiedBytes is a blob read whole and checked against its digest, as a
// Fetcher that verifies before it answers returns it: ReadBlob then takes
// the bytes without reading and hashing them again.
type VerifiedBytes struct {
	*bytes.Reader
	digest digest.Digest
	data   []byte
}

// NewVerifiedBytes returns data, which the caller has checked hashes to d,
// as a VerifiedBytes.
func NewVerifiedBytes(d digest.Digest, data []byte) *VerifiedBytes {
	return &VerifiedBytes{Reader: bytes.NewReader(data), digest: d, data: data}
}

// Close does nothing.
func (v *VerifiedBytes) Close() error { return nil }

// ReadJSON fetches desc (at most MaxManifestSize bytes), verifies it and
// decodes it into v. When desc says index or manifest (IsIndex,
// IsManifest), the content must be of that kind (checkKind).
func ReadJSON(ctx context.Context, f Fetcher, desc ocispec.Descriptor, v any) ([]byte, error) {
	b, err := ReadBlob(ctx, f, desc, MaxManifestSize)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return nil, fmt.Errorf("%s (%s): %w", desc.Digest, desc.MediaType, err)
	}
	if err := checkKind(desc.MediaType, b); err != nil {
		return nil, fmt.Errorf("%s: %w", desc.Digest, err)
	}
	return b, nil
}

// kindFields are the fields of a manifest or index that tell one from
// the other: only their presence matters, so the lists decode into
// empty structs.
type kindFields struct {
	MediaType string     `json:"mediaType"`
	Manifests []struct{} `json:"manifests"`
	Config    *struct{}  `json:"config"`
	Layers    []struct{} `json:"layers"`
}

// checkKind returns ErrWrongKind when mt, a descriptor's media type,
// says index (or manifest) and b, its content, is a manifest (or an
// index): by the content's own mediaType when it has one, which must
// then be an index (a manifest) type, else by its fields (manifests, or
// config and layers). Other media types are not checked; neither is the
// exact type within a kind (an OCI index listed as a Docker manifest
// list reads the same).
func checkKind(mt string, b []byte) error {
	index, manifest := IsIndex(mt), IsManifest(mt)
	if !index && !manifest {
		return nil
	}
	var k kindFields
	if err := json.Unmarshal(b, &k); err != nil {
		return err
	}
	isIndex := k.Manifests != nil && k.Config == nil && k.Layers == nil
	isManifest := k.Manifests == nil && (k.Config != nil || k.Layers != nil)
	if k.MediaType != "" {
		isIndex, isManifest = IsIndex(k.MediaType), IsManifest(k.MediaType)
	}
	switch {
	case index && isManifest:
		return fmt.Errorf("listed as %s, the content is a manifest: %w", mt, ErrWrongKind)
	case manifest && isIndex:
		return fmt.Errorf("listed as %s, the content is an index: %w", mt, ErrWrongKind)
	case index && k.MediaType != "" && !isIndex, manifest && k.MediaType != "" && !isManifest:
		return fmt.Errorf("listed as %s, the content says it is %q: %w", mt, k.MediaType, ErrWrongKind)
	}
	return nil
}

// DescriptorFor returns the descriptor of b with media type mt.
func DescriptorFor(mt string, b []byte) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: mt, Digest: digest.FromBytes(b), Size: int64(len(b))}
}

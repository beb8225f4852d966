package sbomgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docker/go-units"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/oci"
)

// maxConfigSize bounds the image config read into memory.
const maxConfigSize = oci.MaxManifestSize

// fetchedImage is a platform image read through an oci.Fetcher: its
// manifest and config in memory (both digest-verified), its layers
// streamed from the fetcher on demand.
type fetchedImage struct {
	desc     ocispec.Descriptor
	manifest ocispec.Manifest
	rawMan   []byte
	rawCfg   []byte
	created  time.Time // zero when the config has none
	// badCreated is the config's created when it is no time
	// (configTime.Bad): the documents take the epoch instead.
	badCreated string
	// cfgPlatform is the platform the config names.
	cfgPlatform ocispec.Platform
	layers      map[digest.Digest]ocispec.Descriptor
}

// readImage fetches and verifies the manifest and config that desc names.
func readImage(ctx context.Context, f oci.Fetcher, desc ocispec.Descriptor) (*fetchedImage, error) {
	if !oci.IsManifest(desc.MediaType) {
		return nil, fmt.Errorf("%s has media type %q: %w", desc.Digest, desc.MediaType, ErrNotImage)
	}
	if oci.IsAttestation(desc) {
		return nil, fmt.Errorf("%s is a BuildKit attestation manifest: %w", desc.Digest, ErrNotImage)
	}
	img := &fetchedImage{desc: desc, layers: map[digest.Digest]ocispec.Descriptor{}}
	raw, err := oci.ReadJSON(ctx, f, desc, &img.manifest)
	if err != nil {
		return nil, fmt.Errorf("reading manifest %s: %w", desc.Digest, err)
	}
	img.rawMan = raw
	if img.manifest.Config.Digest == "" {
		return nil, fmt.Errorf("manifest %s has no config: %w", desc.Digest, ErrNotImage)
	}
	if !oci.IsImageConfig(img.manifest.Config.MediaType) {
		return nil, fmt.Errorf("manifest %s: config media type %q is not an image config: %w", desc.Digest, img.manifest.Config.MediaType, ErrNotImage)
	}
	img.rawCfg, err = oci.ReadBlob(ctx, f, img.manifest.Config, maxConfigSize)
	if err != nil {
		return nil, fmt.Errorf("reading config %s of manifest %s: %w", img.manifest.Config.Digest, desc.Digest, err)
	}
	var cfg struct {
		Created      configTime `json:"created,omitempty"`
		OS           string     `json:"os"`
		Architecture string     `json:"architecture"`
		Variant      string     `json:"variant,omitempty"`
		OSVersion    string     `json:"os.version,omitempty"`
		RootFS       struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal(img.rawCfg, &cfg); err != nil {
		return nil, fmt.Errorf("decoding config %s of manifest %s: %w", img.manifest.Config.Digest, desc.Digest, err)
	}
	// Checked here, where the message can name the config: the layer
	// reader would only say "non-hex character in hash".
	if n, m := len(cfg.RootFS.DiffIDs), len(img.manifest.Layers); n != m {
		return nil, fmt.Errorf("manifest %s lists %d layer(s), its config %s %d diff ID(s): %w", desc.Digest, m, img.manifest.Config.Digest, n, ErrBadConfig)
	}
	for i, id := range cfg.RootFS.DiffIDs {
		d, err := digest.Parse(id)
		if err == nil && !d.Algorithm().Available() {
			err = fmt.Errorf("unsupported algorithm %s", d.Algorithm())
		}
		if err != nil {
			return nil, fmt.Errorf("config %s of manifest %s: rootfs.diff_ids[%d] %q: %w: %w", img.manifest.Config.Digest, desc.Digest, i, id, ErrBadConfig, err)
		}
	}
	img.cfgPlatform = ocispec.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant, OSVersion: cfg.OSVersion}
	if !cfg.Created.IsZero() {
		img.created = cfg.Created.UTC()
	}
	img.badCreated = cfg.Created.Bad
	for i, l := range img.manifest.Layers {
		if err := l.Digest.Validate(); err != nil {
			return nil, fmt.Errorf("manifest %s: layers[%d] digest %q: %w", desc.Digest, i, l.Digest, err)
		}
		img.layers[l.Digest] = l
	}
	return img, nil
}

// configTime is a created time of an image config, as image tools write
// it: RFC 3339 (time.RFC3339Nano), with the variants RFC 3339 allows that
// Go's time.Time does not read (parseConfigTime), or "" or null, which say
// nothing (the zero time, as when the field is absent). A value that is no
// such time is not an error: the config is still the image's, and only
// the documents' creation time would come from it. Bad keeps it.
type configTime struct {
	time.Time
	// Bad is the value, as written, when it is no time parseConfigTime
	// reads ("" when it is one, or absent).
	Bad string
}

// UnmarshalJSON implements json.Unmarshaler. It fails on nothing: a
// value it cannot read, or a time after 9999 in UTC, leaves the zero time
// and is kept in t.Bad.
func (t *configTime) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		t.Bad = string(b) // a number, an object: kept as JSON
		return nil
	}
	tm, err := parseConfigTime(s)
	// A time past 9999-12-31T23:59:59Z (a valid RFC 3339 time with an
	// offset can be) has no RFC 3339 form in UTC, which the documents and
	// the referrers' created annotation need.
	if err != nil || tm.UTC().Year() > 9999 {
		t.Bad = s
		return nil
	}
	t.Time = tm
	return nil
}

// parseConfigTime parses s as configTime describes it: "" is the zero
// time, anything else RFC 3339 as time.Time reads it from JSON, and also
// with the variants RFC 3339 allows that time.Time refuses (go-
// containerregistry, containerd and Docker all read the config's times
// with it, and fail on them): a lower case "t" or "z" (section 5.6), a
// space instead of the "T" (its note in 5.6: "2024-01-02 03:04:05Z"), and
// a leap second, second 60 (read as the second after it, as POSIX time
// counts it). A time without an offset ("2024-01-02T03:04:05") is no RFC
// 3339 time, and is not read: the instant it names depends on the zone of
// whoever wrote it.
func parseConfigTime(s string) (time.Time, error) {
	var t time.Time
	if s == "" {
		return t, nil
	}
	n := normalRFC3339(s)
	if err := t.UnmarshalText([]byte(n)); err == nil {
		return t, nil
	}
	if len(n) > 18 && n[17:19] == "60" {
		if err := t.UnmarshalText([]byte(n[:17] + "59" + n[19:])); err == nil {
			return t.Add(time.Second), nil
		}
	}
	// The error names the value as written.
	if err := t.UnmarshalText([]byte(s)); err != nil {
		return time.Time{}, err
	}
	return t, nil
}

// normalRFC3339 returns s with the letters RFC 3339 allows in lower case,
// "t" and "z", in upper case, and a space between the date and the time
// (the 11th byte) as a "T". Any other letter, or one of those elsewhere,
// leaves s no RFC 3339 time either way.
func normalRFC3339(s string) string {
	if len(s) > 10 && s[10] == ' ' {
		s = s[:10] + "T" + s[11:]
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case 't':
			return 'T'
		case 'z':
			return 'Z'
		}
		return r
	}, s)
}

// configForParsing returns raw, an image config, with the created times
// of the image and of its history entries made readable by
// go-containerregistry (whose v1.Time is a time.Time): one that
// parseConfigTime reads but time.Time does not is written as
// time.RFC3339Nano, and "" or a value that is no time (a time without an
// offset, a number) is left out, as absent. ok is false when raw needs
// nothing of this, or is not a JSON object.
func configForParsing(raw []byte) (_ []byte, ok bool) {
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal(raw, &cfg); err != nil || cfg == nil {
		return nil, false
	}
	changed := fixCreated(cfg)
	if h, found := cfg["history"]; found {
		var hist []map[string]json.RawMessage
		if err := json.Unmarshal(h, &hist); err == nil {
			histChanged := false
			for _, e := range hist {
				if fixCreated(e) {
					histChanged = true
				}
			}
			if histChanged {
				b, err := json.Marshal(hist)
				if err != nil {
					return nil, false
				}
				cfg["history"], changed = b, true
			}
		}
	}
	if !changed {
		return nil, false
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, false
	}
	return b, true
}

// fixCreated rewrites obj's "created" as configForParsing describes, and
// reports whether it changed it.
func fixCreated(obj map[string]json.RawMessage) bool {
	raw, found := obj["created"]
	var t time.Time
	if !found || string(raw) == "null" || t.UnmarshalJSON(raw) == nil {
		return false
	}
	var ct configTime
	if err := json.Unmarshal(raw, &ct); err != nil || ct.Bad != "" || ct.IsZero() {
		delete(obj, "created")
		return true
	}
	b, err := json.Marshal(ct.Format(time.RFC3339Nano))
	if err != nil {
		return false
	}
	obj["created"] = b
	return true
}

// v1Image returns the image as a go-containerregistry v1.Image whose layers
// are streamed from f, for stereoscope. go-containerregistry's interfaces
// take no context, so ctx is kept by the returned image: it must not
// outlive the scan it was made for.
func (img *fetchedImage) v1Image(ctx context.Context, f oci.Fetcher, maxSize int64) (*v1Image, error) {
	core := &imageCore{ctx: ctx, f: f, img: img, maxSize: maxSize}
	base, err := partial.CompressedToImage(core)
	if err != nil {
		return nil, err
	}
	return &v1Image{Image: base, core: core}, nil
}

// v1Image is a go-containerregistry image whose layers verify what they
// yield: the compressed bytes against the layer digest, the uncompressed
// ones against the config's diff ID.
type v1Image struct {
	v1.Image
	core *imageCore
}

// ConfigFile implements v1.Image: the config as go-containerregistry
// parses it (stereoscope reads the image's metadata through it), except
// that created times it cannot read (of the image, of history entries)
// are read as configForParsing says instead of failing the scan:
// stereoscope and syft use none of them.
// RawConfigFile stays the config blob's bytes, so the config digest (the
// image ID) and the config the documents record are the blob's.
func (i *v1Image) ConfigFile() (*v1.ConfigFile, error) {
	raw := i.core.img.rawCfg
	cf, err := v1.ParseConfigFile(bytes.NewReader(raw))
	if err == nil {
		return cf, nil
	}
	fixed, ok := configForParsing(raw)
	if !ok {
		return nil, err
	}
	cf, ferr := v1.ParseConfigFile(bytes.NewReader(fixed))
	if ferr != nil {
		return nil, err
	}
	return cf, nil
}

// Layers implements v1.Image.
func (i *v1Image) Layers() ([]v1.Layer, error) {
	cfg, err := i.ConfigFile()
	if err != nil {
		return nil, err
	}
	// readImage checked that the config has a diff ID per layer.
	man := i.core.img.manifest
	out := make([]v1.Layer, len(man.Layers))
	for n, d := range man.Layers {
		cl := &layer{core: i.core, desc: d, index: n}
		l, err := partial.CompressedToLayer(cl)
		if err != nil {
			return nil, err
		}
		out[n] = &verifiedLayer{Layer: l, cl: cl, diffID: cfg.RootFS.DiffIDs[n]}
	}
	return out, nil
}

// verifiedLayer checks the uncompressed layer against its diff ID, and
// reports a damaged blob as oci.ErrDigestMismatch even when decompressing
// it fails first.
type verifiedLayer struct {
	v1.Layer
	cl     *layer
	diffID v1.Hash
}

// DiffID implements v1.Layer from the config, without reading the layer.
func (l *verifiedLayer) DiffID() (v1.Hash, error) { return l.diffID, nil }

// Uncompressed implements v1.Layer.
func (l *verifiedLayer) Uncompressed() (io.ReadCloser, error) {
	d, err := digest.Parse(l.diffID.String())
	if err != nil {
		return nil, l.cl.wrap(fmt.Errorf("diff ID %q: %w", l.diffID, err))
	}
	rc, err := l.Layer.Uncompressed()
	if err != nil && errors.Is(err, oci.ErrBlobNotFound) && nonDistributable(l.cl.desc) && l.cl.core.ctx.Err() == nil {
		// Pushes leave such a layer out by default: the scan goes on
		// without it, and says so (imageCore.notScanned).
		l.cl.core.skip(l.cl.index)
		return io.NopCloser(bytes.NewReader(emptyTar[:])), nil
	}
	if err != nil {
		err = l.cl.diagnose(err)
		// go-containerregistry does not close the compressed stream it
		// could not start decompressing (a bad gzip header): an open
		// file, or a registry connection.
		l.cl.closeLast()
		return nil, err
	}
	return &uncompressedReader{rc: rc, l: l.cl, diffID: d, v: d.Verifier()}, nil
}

// uncompressedReader reads a layer uncompressed, verifying it against its
// diff ID and counting it against the image's size bound.
type uncompressedReader struct {
	rc     io.ReadCloser
	l      *layer
	diffID digest.Digest
	v      digest.Verifier
}

func (r *uncompressedReader) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	r.v.Write(p[:n])
	if c := r.l.core; c.maxSize > 0 && c.unpacked.Add(int64(n)) > c.maxSize {
		return n, r.l.wrap(fmt.Errorf("the image's layers unpack to more than %s (%d bytes; AFFIX_MAX_IMAGE_SIZE): %w", units.BytesSize(float64(c.maxSize)), c.maxSize, ErrImageTooLarge))
	}
	switch {
	case err == io.EOF && !r.v.Verified():
		return n, r.l.wrap(fmt.Errorf("uncompressed content does not match diff ID %s: %w", r.diffID, oci.ErrDigestMismatch))
	case err != nil && err != io.EOF:
		return n, r.l.diagnose(err)
	}
	return n, err
}

func (r *uncompressedReader) Close() error { return r.rc.Close() }

type imageCore struct {
	ctx context.Context
	f   oci.Fetcher
	img *fetchedImage
	// maxSize bounds the bytes unpacked from all layers (0: none);
	// unpacked counts them.
	maxSize  int64
	unpacked atomic.Int64

	mu      sync.Mutex
	skipped []int // indexes of the layers read as empty (see skip)
}

// emptyTar is a tar archive with no entries: its end, two zero blocks.
var emptyTar [1024]byte

// ociNonDistributableZstd is OCI's deprecated non-distributable zstd
// layer media type.
const ociNonDistributableZstd = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"

// nonDistributable reports whether d is a non-distributable layer: its
// media type says so (Docker's foreign layers, as Windows base images
// had them; OCI's deprecated nondistributable types) or it lists URLs to
// fetch it from (image-spec descriptor.md). Registries and layouts often
// lack its blob: pushes leave it out by default (docker push, crane, and
// affix push, which copies no layer that lists URLs), and exports can
// (ctr export --skip-non-distributable).
func nonDistributable(d ocispec.Descriptor) bool {
	switch d.MediaType {
	case string(types.DockerForeignLayer),
		"application/vnd.oci.image.layer.nondistributable.v1.tar",
		"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
		ociNonDistributableZstd:
		return true
	}
	return len(d.URLs) > 0
}

// skip records that the layer at index i is read as an empty layer: a
// non-distributable layer whose blob the fetcher does not have.
func (c *imageCore) skip(i int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !slices.Contains(c.skipped, i) {
		c.skipped = append(c.skipped, i)
	}
}

// notScanned describes the layers read as empty (skip), in manifest
// order, as Result.Unreadable lists them.
func (c *imageCore) notScanned() []string {
	c.mu.Lock()
	skipped := slices.Sorted(slices.Values(c.skipped))
	c.mu.Unlock()
	var out []string
	for _, i := range skipped {
		d := c.img.manifest.Layers[i]
		out = append(out, fmt.Sprintf("layer %d (%s, %s): not scanned: non-distributable, not in the source", i, d.Digest, d.MediaType))
	}
	return out
}

func (c *imageCore) RawConfigFile() ([]byte, error) { return c.img.rawCfg, nil }
func (c *imageCore) RawManifest() ([]byte, error)   { return c.img.rawMan, nil }

// MediaType returns the manifest's own mediaType, which its digest
// covers, else the OCI manifest's (a Docker v2 manifest always names
// itself), not the descriptor's: a descriptor can name another media type
// for the same digest, and the documents (syft JSON records it) must
// depend on the manifest alone, as the cache key does.
func (c *imageCore) MediaType() (types.MediaType, error) {
	if mt := c.img.manifest.MediaType; mt != "" {
		return types.MediaType(mt), nil
	}
	return types.MediaType(ocispec.MediaTypeImageManifest), nil
}

func (c *imageCore) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	d, ok := c.img.layers[digest.Digest(h.String())]
	if !ok {
		return nil, fmt.Errorf("manifest %s lists no layer %s: %w", c.img.desc.Digest, h, oci.ErrBlobNotFound)
	}
	i := slices.IndexFunc(c.img.manifest.Layers, func(l ocispec.Descriptor) bool { return l.Digest == d.Digest })
	return &layer{core: c, desc: d, index: i}, nil
}

type layer struct {
	core  *imageCore
	desc  ocispec.Descriptor
	index int // in the manifest's layers

	mu   sync.Mutex
	last *ctxReadCloser // the reader Compressed returned last
}

// diagnose returns the error to report when reading the uncompressed layer
// failed with err: if the compressed stream (read to its end) does not
// match the layer digest, that is the cause.
func (l *layer) diagnose(err error) error {
	if errors.Is(err, oci.ErrDigestMismatch) || l.core.ctx.Err() != nil {
		return err
	}
	l.mu.Lock()
	r := l.last
	l.mu.Unlock()
	if r == nil {
		return err
	}
	if _, derr := io.Copy(io.Discard, r); errors.Is(derr, oci.ErrDigestMismatch) {
		var le *layerError
		if errors.As(derr, &le) {
			derr = le.err
		}
		return l.wrap(fmt.Errorf("%w (decompressing: %v)", derr, err))
	}
	return l.wrap(err)
}

// closeLast closes the reader Compressed returned last.
func (l *layer) closeLast() {
	l.mu.Lock()
	r := l.last
	l.last = nil
	l.mu.Unlock()
	if r != nil {
		r.Close()
	}
}

// layerError is an error reading one layer of an image. It names the
// layer by its index in the manifest and its digest, so that scanImage
// can report it without the wrapping of the library that read it (which
// names a temporary path and the diff ID).
type layerError struct {
	index  int
	digest digest.Digest
	err    error
}

func (e *layerError) Error() string {
	return fmt.Sprintf("layer %d (%s): %v", e.index, e.digest, e.err)
}

func (e *layerError) Unwrap() error { return e.err }

// wrap returns err as a *layerError about l, unless it is one already.
func (l *layer) wrap(err error) error {
	var le *layerError
	if err == nil || errors.As(err, &le) {
		return err
	}
	return &layerError{index: l.index, digest: l.desc.Digest, err: err}
}

func (l *layer) Digest() (v1.Hash, error) { return v1.NewHash(l.desc.Digest.String()) }
func (l *layer) Size() (int64, error)     { return l.desc.Size, nil }

// MediaType returns the descriptor's media type, except for OCI's
// deprecated non-distributable zstd layer, which stereoscope refuses
// (it knows the gzip and uncompressed ones): that is reported as the
// zstd layer it is otherwise (go-containerregistry picks the
// decompressor by the stream's magic bytes). The scan puts the
// manifest's type back into the layer metadata the documents record.
func (l *layer) MediaType() (types.MediaType, error) {
	if l.desc.MediaType == ociNonDistributableZstd {
		return types.OCILayerZStd, nil
	}
	return types.MediaType(l.desc.MediaType), nil
}

// Compressed streams the layer blob, verified against its descriptor, and
// fails as soon as the scan's context is done.
func (l *layer) Compressed() (io.ReadCloser, error) {
	ctx := l.core.ctx
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rc, err := l.core.f.Fetch(ctx, l.desc)
	if err != nil {
		return nil, l.wrap(fmt.Errorf("fetching: %w", err))
	}
	var r io.Reader = rc
	if _, verified := l.core.f.(oci.VerifyingFetcher); !verified {
		// A Layout and a registry repository verify what they serve
		// (hashing a layer twice would double the scan's hashing);
		// other fetchers may not.
		r = oci.VerifyReader(rc, l.desc)
	}
	cr := &ctxReadCloser{ctx: ctx, r: r, c: rc, l: l}
	l.mu.Lock()
	l.last = cr
	l.mu.Unlock()
	return cr, nil
}

// ctxReadCloser stops reading once ctx is done and names the layer in
// errors.
type ctxReadCloser struct {
	ctx context.Context
	r   io.Reader
	c   io.Closer
	l   *layer
}

func (r *ctxReadCloser) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		err = r.l.wrap(err)
	}
	return n, err
}

func (r *ctxReadCloser) Close() error { return r.c.Close() }

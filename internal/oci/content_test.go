package oci_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"testing/iotest"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/oci"
)

// TestReadBlobAllocatesWhatArrives checks that a descriptor declaring a
// large blob (as an attestation manifest from a registry may, up to
// convert's 80 MiB limit per layer) costs memory for the bytes that
// arrive, not for the size it declares.
func TestReadBlobAllocatesWhatArrives(t *testing.T) {
	const declared = 64 << 20
	desc := ocispec.Descriptor{MediaType: "application/vnd.in-toto+json", Digest: digest.FromString("x"), Size: declared}
	f := oci.FetcherFunc(func(context.Context, ocispec.Descriptor) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader([]byte("a few bytes"))), nil
	})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := oci.ReadBlob(context.Background(), f, desc, declared)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, oci.ErrDigestMismatch) {
		t.Fatalf("ReadBlob of a short blob: %v, want ErrDigestMismatch", err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > declared/4 {
		t.Errorf("ReadBlob allocated %d bytes for a blob declaring %d and sending 11", got, declared)
	}
}

// TestReadBlobAllocation checks what reading a blob whole costs beside
// the blob: streamed from a fetcher that does not verify (a registry's
// blob body), at most about twice its size in all (the buffer doubles as
// bytes arrive; io.ReadAll's growth cost 5.5 times), and from a layout
// directory, whose small blobs Fetch reads into one buffer of their size,
// little more than once.
func TestReadBlobAllocation(t *testing.T) {
	ctx := context.Background()
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<19) // 8 MiB
	desc := ocispec.Descriptor{MediaType: "application/spdx+json", Digest: digest.FromBytes(data), Size: int64(len(data))}
	stream := oci.FetcherFunc(func(context.Context, ocispec.Descriptor) (io.ReadCloser, error) {
		return io.NopCloser(struct{ io.Reader }{bytes.NewReader(data)}), nil
	})
	got := allocated(t, func() []byte {
		b, err := oci.ReadBlob(ctx, stream, desc, 16<<20)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}, data)
	if max := 2.2 * float64(len(data)); float64(got) > max {
		t.Errorf("ReadBlob of a streamed %d-byte blob allocated %d bytes, want at most %.0f", len(data), got, max)
	}

	small := data[:3<<20]
	dir := t.TempDir()
	sd := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(small), Size: int64(len(small))}
	if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		filepath.Join("blobs", "sha256", sd.Digest.Encoded()): small,
		ocispec.ImageLayoutFile:                               []byte(`{"imageLayoutVersion":"1.0.0"}`),
		ocispec.ImageIndexFile:                                fmt.Appendf(nil, `{"schemaVersion":2,"manifests":[{"mediaType":%q,"digest":%q,"size":1}]}`, ocispec.MediaTypeImageManifest, sd.Digest),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l, err := oci.OpenLayout(ctx, oci.SchemeLayout+":"+dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got = allocated(t, func() []byte {
		b, err := oci.ReadBlob(ctx, l, sd, 0)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}, small)
	if max := 1.2 * float64(len(small)); float64(got) > max {
		t.Errorf("ReadBlob of a %d-byte layout blob allocated %d bytes, want at most %.0f", len(small), got, max)
	}
}

// allocated returns the bytes read allocated, and checks it returned
// want.
func allocated(t *testing.T, read func() []byte, want []byte) uint64 {
	t.Helper()
	read() // one-time allocations (digest algorithms, pools) out of the way
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b := read()
	runtime.ReadMemStats(&after)
	if !bytes.Equal(b, want) {
		t.Fatalf("read %d bytes that differ from the blob's %d", len(b), len(want))
	}
	return after.TotalAlloc - before.TotalAlloc
}

// TestReadBlobExactSize checks the ends of readSized's buffer: content of
// exactly the declared size, one byte short, one byte over, and none.
func TestReadBlobExactSize(t *testing.T) {
	ctx := context.Background()
	blob := bytes.Repeat([]byte{'x'}, 3000)
	for _, tc := range []struct {
		name string
		sent []byte
		ok   bool
	}{
		{"exact", blob, true},
		{"short", blob[:len(blob)-1], false},
		{"over", append(slices.Clone(blob), 'x'), false},
		{"empty", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			desc := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(blob), Size: int64(len(blob))}
			f := oci.FetcherFunc(func(context.Context, ocispec.Descriptor) (io.ReadCloser, error) {
				return io.NopCloser(iotest.OneByteReader(bytes.NewReader(tc.sent))), nil
			})
			b, err := oci.ReadBlob(ctx, f, desc, 0)
			if tc.ok {
				if err != nil || !bytes.Equal(b, blob) {
					t.Fatalf("ReadBlob: %d bytes, %v; want the blob", len(b), err)
				}
				if cap(b) != len(blob) {
					t.Errorf("ReadBlob returned a buffer of capacity %d for %d bytes", cap(b), len(blob))
				}
				return
			}
			if !errors.Is(err, oci.ErrDigestMismatch) {
				t.Fatalf("ReadBlob of %d bytes for a %d-byte descriptor: %v, want ErrDigestMismatch", len(tc.sent), len(blob), err)
			}
		})
	}
	empty := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(nil), Size: 0}
	f := oci.FetcherFunc(func(context.Context, ocispec.Descriptor) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(nil)), nil
	})
	if b, err := oci.ReadBlob(ctx, f, empty, 0); err != nil || len(b) != 0 {
		t.Fatalf("ReadBlob of an empty blob: %q, %v", b, err)
	}
}

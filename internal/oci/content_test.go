package oci_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"runtime"
	"testing"

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

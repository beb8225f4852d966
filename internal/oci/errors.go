package oci

import "errors"

// Sentinel errors. Callers test them with errors.Is; the wrapping error names
// the input (path, digest or platform) that caused them.
var (
	// ErrNotLayout means a path is not an OCI image layout: no oci-layout
	// file, an unsupported layout version, or no index.json.
	ErrNotLayout = errors.New("not an OCI image layout")
	// ErrBlobNotFound means a descriptor points at content that is missing.
	ErrBlobNotFound = errors.New("blob not found")
	// ErrDigestMismatch means content does not hash to the digest that
	// names it, or its length differs from the descriptor's size.
	ErrDigestMismatch = errors.New("content does not match its digest")
	// ErrTruncated means an archive ended before its content did.
	ErrTruncated = errors.New("truncated archive")
	// ErrNoMatch means nothing matched a selection: a platform, a
	// digest, or a layout's tag. The wrapping error says what was asked
	// for and what is there.
	ErrNoMatch = errors.New("no match")
	// ErrAmbiguous means several platform manifests matched a selection
	// that must pick one.
	ErrAmbiguous = errors.New("ambiguous platform selection")
	// ErrInvalidSource means a source string is not of a known form.
	ErrInvalidSource = errors.New("invalid source")
	// ErrUnsafeLayout means a layout file is not a regular file inside the
	// layout: a symbolic link (of the file or of a directory above it)
	// leading out of the layout, a FIFO, a device or a directory. A layout
	// is untrusted input; such a file is refused before it is read or
	// written through.
	ErrUnsafeLayout = errors.New("unsafe layout entry")
	// ErrTooLarge means a manifest or index exceeds MaxManifestSize.
	ErrTooLarge = errors.New("content too large")
	// ErrInvalidPlatform means an index or image config names a platform
	// with characters no platform has (a slash, a control character).
	ErrInvalidPlatform = errors.New("invalid platform")
	// ErrWrongKind means a descriptor's media type says index and its
	// content is a manifest, or the reverse: read as the descriptor says,
	// an index read as a manifest would look like an artifact and a
	// manifest read as an index like an empty one, and what it holds
	// would be left out without a word.
	ErrWrongKind = errors.New("content is not of its descriptor's media type")
)

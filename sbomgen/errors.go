package sbomgen

import "errors"

// Sentinel errors. Callers test them with errors.Is; the wrapping error
// names the input that caused them. Errors about the image itself (missing
// blob, digest mismatch, ...) are internal/oci's sentinels, wrapped.
var (
	// ErrUnknownFormat means a format name is not one ParseFormat knows.
	ErrUnknownFormat = errors.New("unknown SBOM format")
	// ErrNotImage means a descriptor does not name an image manifest.
	ErrNotImage = errors.New("not an image manifest")
	// ErrNoSubject means a document does not name the image it describes
	// by a manifest digest (DescribedDigest).
	ErrNoSubject = errors.New("SBOM names no image manifest digest")
	// ErrBadConfig means an image config does not describe its manifest's
	// layers: a diff ID count that differs from the layer count, a diff
	// ID that is no digest.
	ErrBadConfig = errors.New("invalid image config")
	// ErrImageTooLarge means an image's layers unpack to more than
	// Options.MaxImageSize.
	ErrImageTooLarge = errors.New("image too large")
	// ErrInvalidEnv means an environment variable a Generator reads
	// (SOURCE_DATE_EPOCH, AFFIX_MAX_IMAGE_SIZE) holds an invalid value.
	ErrInvalidEnv = errors.New("invalid environment variable")
)

package convert

import "errors"

// Sentinel errors. Callers test them with errors.Is; the wrapping error
// names the reference, manifest or layer that caused them.
var (
	// ErrNeedTag means StripAttestations was asked for a reference by
	// digest: stripping re-pushes the index under a tag.
	ErrNeedTag = errors.New("stripping attestations needs a tag")
	// ErrBadAttestation means an attestation manifest or its in-toto
	// statement is malformed, or names another image than the one the
	// index says it is for.
	ErrBadAttestation = errors.New("malformed BuildKit attestation")
	// ErrUnconverted means StripAttestations was refused: attestation
	// manifests hold statements (SLSA provenance, SBOMs of other stages,
	// ...) that were not published as referrers and would be lost from
	// the index. *UnconvertedError lists them.
	ErrUnconverted = errors.New("attestation manifests hold statements not published as referrers")
	// ErrTagMoved means the tag names another index than the one expected:
	// Options.Digest, checked before anything is written (the message
	// says "the digest asked for"), or, when the stripped index is about
	// to be written under it, the index Convert read (a newer push moved
	// it meanwhile: the message says "moved during the convert").
	ErrTagMoved = errors.New("the tag names another index")
)

// ErrReadLimit means the statements of the image's attestation manifests
// come to more bytes than one Convert reads (Options.MaxRead, MaxRead by
// default): nothing was written.
var ErrReadLimit = errors.New("attestation statements over the convert's read limit")

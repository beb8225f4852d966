// Package scanner implements BuildKit's SBOM scanner protocol
// (docs/attestations/sbom-protocol.md in BuildKit) with affix's SBOM
// engine, so that stock BuildKit and buildx can use it as an SBOM
// generator image:
//
//	buildctl build ... --opt attest:sbom=generator=REGISTRY/affix-scanner:TAG
//	docker buildx build --attest type=sbom,generator=REGISTRY/affix-scanner:TAG ...
//
// BuildKit runs the generator image (for the build platform) with the
// root filesystem of the final stage mounted read-only at
// $BUILDKIT_SCAN_SOURCE, the root filesystems of further targets
// (BUILDKIT_SBOM_SCAN_STAGE, BUILDKIT_SBOM_SCAN_CONTEXT) in the
// directories under $BUILDKIT_SCAN_SOURCE_EXTRAS, and an empty directory
// at $BUILDKIT_SCAN_DESTINATION. For every target the scanner writes
// DESTINATION/<target name>.spdx.json: one in-toto statement (predicate
// type https://spdx.dev/Document) whose predicate is the SPDX 2.3 document
// of that directory. BuildKit reads each file as a statement, fills in the
// subject (the platform image manifest) and stores it in the image's
// attestation manifest.
//
// The attributes of attest:sbom other than the generator reach the scanner
// as BUILDKIT_SCAN_<KEY>=<VALUE>; the keys it accepts are listed at Params.
//
// Run refuses (ErrUnscannable) a target on a mount that syft's directory
// scan skips, such as a tmpfs under /run where BuildKit mounts the root
// filesystems when buildkitd keeps its state on a tmpfs: the SBOM would
// list no package.
package scanner

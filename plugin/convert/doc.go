// Package convert adopts what BuildKit or buildx already published: for an
// image index with BuildKit attestation manifests (platform
// unknown/unknown, vnd.docker.reference.type=attestation-manifest), it
// publishes each platform's SBOM as an OCI referrer of the platform
// manifest, through exporter.Push (referrers API, else the referrers tag
// schema), and optionally re-pushes the index without the attestation
// entries under the same tag.
//
// The referrer is the one affix pushes itself: artifactType
// application/spdx+json, one layer of that media type holding the SPDX
// document taken out of the in-toto statement, the empty config, and the
// annotations org.opencontainers.image.created (the SPDX
// creationInfo.created, so the referrer digest is stable),
// dev.affix.sbom.generator (the first "Tool:" creator of the document),
// dev.affix.sbom.platform and dev.affix.sbom.format. With KeepInToto the
// statement is published instead: artifactType and layer media type
// application/vnd.in-toto+json, the layer and the manifest annotated with
// in-toto.io/predicate-type https://spdx.dev/Document.
//
// The document is made to name the image it describes, as affix's own
// SBOMs do (sbomgen.DescribedDigest): its described root package gets the
// purl pkg:oci/NAME@DIGEST (the platform manifest digest, qualifiers arch
// and repository_url; no tag, so that every tag of the index converts to
// the same referrers: sbomgen.ImagePURL) and a checksum of that digest,
// replacing any purl or checksum of the same algorithm it had.
// Options.Raw publishes the document exactly as BuildKit stored it.
//
// Only the SBOM of the final image is published. A BuildKit build with
// BUILDKIT_SBOM_SCAN_STAGE or BUILDKIT_SBOM_SCAN_CONTEXT stores further
// SPDX statements, of other stages or of the build context; they do not
// describe the platform image (a scanner such as Trivy would take them for
// its SBOM), so they are counted in Platform.Extras and left out. The
// final image's statement is the first BuildKit marked with its creator
// "Tool: buildkit-<version>" (it adds it to the core target's documents
// only), else a lone statement; of several none of which BuildKit marked,
// none is published. Only that statement must be a valid SPDX statement
// of the platform manifest; any other that is not is recorded in
// Platform.Unconverted with its Reason. Document names are not used: a
// scanner's NAME parameter may start with "sbom-", BuildKit's prefix for
// the extra targets.
//
// Converting is idempotent: a referrer already listed for its subject is
// not written again, and an index without attestation manifests is not
// re-pushed, so a second run writes nothing.
package convert

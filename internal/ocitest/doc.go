// Package ocitest checks, for tests, that the OCI documents affix writes
// are valid: each against the image-spec v1.1.1 JSON schema for its media
// type (github.com/opencontainers/image-spec/schema), then against the
// spec's rules the schemas leave out, each problem naming the rule and
// where the spec states it:
//
//   - image-spec manifest.md: mediaType, when present, is the manifest
//     type; artifactType is set when config is the empty descriptor; the
//     empty descriptor is the {} blob (size 2, data e30= when embedded);
//     subject names a manifest or index;
//   - image-spec image-index.md: mediaType, when present, is the index
//     type; platform os and architecture are not empty, and (Tree) every
//     image manifest entry (its config an image config) has a platform;
//   - image-spec descriptor.md: media types follow RFC 6838; digests follow
//     the grammar (sha256: 64 lower-case hex); size is not negative; data
//     is the content itself; urls are RFC 3986 URIs; and (Tree) every
//     descriptor names bytes of its size and digest, of its media type;
//   - image-spec annotations.md: org.opencontainers.image.created is an RFC
//     3339 date-time, org.opencontainers.image.ref.name follows its
//     grammar, base.digest is a digest, and no other key uses the reserved
//     org.opencontainers prefix;
//   - image-spec config.md: created and history[].created are RFC 3339,
//     rootfs.type is layers;
//   - image-spec image-layout.md: oci-layout, index.json, blobs named by
//     the digest of their content (Layout);
//   - distribution-spec v1.1 "Pushing Manifests": a manifest with a
//     mediaType field is sent with that Content-Type (Recorder);
//   - distribution-spec v1.1 "Listing Referrers" and "Referrers Tag
//     Schema": a referrers index is an image index listing, once each,
//     manifests whose subject is the digest, with their artifactType (else
//     config media type) and annotations (ReferrersIndex).
//
// Besides the MUSTs, it holds affix's documents to two SHOULDs that
// readers rely on: mediaType is present in every manifest and index
// (image-spec manifest.md, image-index.md; distribution-spec "Pushing
// Manifests"), and an image index gives each image manifest its platform
// (image-index.md, descriptor.md).
//
// ValidateDocument checks one document; Tree, Layout and ReferrersIndex
// fetch what descriptors name (Fetch: LayoutFetch, RegistryFetch) and
// check it too.
package ocitest

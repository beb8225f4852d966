// Package exporter publishes an OCI image and its referrers (SBOMs,
// signatures, any artifact) in one push, in the order that keeps the tag
// honest: blobs, platform manifests, referrer blobs and manifests (with the
// referrers tag schema where the registry has no referrers API), and the
// index by tag last. If any step fails the tag is not moved; a rerun
// completes the push and a rerun of a completed push changes nothing.
//
// The engine writes to a Target: Remote (a registry repository, through
// oras-go's HTTP client: auth, blob upload and mount) or Layout (an OCI image
// layout directory). The referrer logic is its own: support for the
// referrers API is learnt from the OCI-Subject header of each referrer's
// manifest PUT, for that referrer (no probe request), and without it the
// referrers index under the tag `<alg>-<hex>` is read, merged, written
// (If-Match where the registry gave an ETag) and verified by re-reading,
// so that concurrent writers to the same subject do not lose each other's
// entries.
//
// The exporter takes artifacts as bytes with their media type and subject
// descriptor; it does not know how an SBOM is made.
package exporter

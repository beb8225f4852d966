// Package sbomgen generates SBOMs for OCI images with syft, used as a
// library.
//
// A Generator scans one platform image at a time: from any oci.Fetcher
// (a local OCI layout, or a remote repository) and the image's manifest
// descriptor, or from a plain root filesystem directory. One scan can be
// encoded into several formats (SPDX 2.3 JSON, CycloneDX JSON, syft JSON).
//
// Documents are deterministic: the bytes are a pure function of the
// platform manifest digest, the generator version and the Options. The
// creation time comes from Options.Created, else SOURCE_DATE_EPOCH, else the
// image config's created time, else the Unix epoch; the SPDX document
// namespace and the CycloneDX serial number are derived from the manifest
// digest. Every document names the image it describes by its manifest
// digest; DescribedDigest reads it back.
//
// Scans are offline: no daemon, registry or license lookups. syft types
// never leave this package.
package sbomgen

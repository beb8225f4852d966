// Package oci holds the small amount of OCI plumbing that the three engines
// (frontend, sbomgen, exporter) and the commands share: reading an OCI image
// layout from a directory or a tar archive, digest-verified content access,
// walking (nested) image indexes to their platform manifests, and selecting
// platform manifests by platform or digest.
//
// It depends on nothing but the OCI image-spec types, go-digest and
// containerd/platforms, so every engine may import it without importing
// another engine.
package oci

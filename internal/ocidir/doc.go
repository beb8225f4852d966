// Package ocidir writes referrers into an OCI image layout directory, in
// the two forms readers take, under a lock: each referrer manifest listed
// in index.json itself (what oras reads), and for each subject a referrers
// tag schema index tagged sha256-<hex> (what regctl reads). Every file is
// written atomically, through a temporary file renamed into place, so that
// a reader never sees half of one.
//
// Reading a layout is internal/oci's job; ocidir only writes. It imports
// internal/oci and exporter (for exporter.Referrer and
// exporter.ReferrersTag); neither imports it.
package ocidir

// Package frontend builds images with BuildKit: it runs the Dockerfile
// frontend (dockerfile.v0, through the gateway frontend attributes) on one
// or more buildkitd nodes and exports the result straight into a local OCI
// image layout directory, no tar round trip.
//
// Build returns the layout, the image index descriptor and the platform
// manifest descriptors in the requested platform order. With several nodes
// (one per platform, "linux/arm64=tcp://..."), each node builds its
// platforms concurrently and the results are merged into one layout with
// one index, ordered as one node orders it (platform manifests in the
// requested order, then any attestation manifests in the order of their
// subjects); the merged index bytes are a pure function of the manifests
// it lists and the index annotations, whichever node built what, so a
// reproducible build (SOURCE_DATE_EPOCH) reproduces the index digest.
//
// NewPlan checks the options before any builder is contacted and names
// the settings the build will ignore (Plan.Warnings), so that a command
// can print them before its progress display starts; Plan.Build then
// builds what it checked.
//
// Progress is one display (BuildKit's progressui: tty, plain, rawjson or
// quiet) for a whole command: every build feeds it, and callers add their
// own phases as vertices with Task.
//
// BuildKit types never leave this package: its API speaks in strings,
// ocispec descriptors and platforms.
package frontend

// Package integration runs the affix binary end to end: `affix build`
// against real buildkitd daemons (runc, native snapshotter) started by
// internal/buildkittest, pushing to real registries started by
// internal/registrytest (olareg with the referrers API on and off,
// Debian's docker-registry 2.8 and, when built, distribution v3), then
// reads every result back with oras-go and, where they are installed, oras
// and the docker client.
//
// The tests skip under -short and when a prerequisite (root, runc,
// buildkitd, docker-registry, a static busybox) is missing, unless
// AFFIX_INTEGRATION=1, which makes a missing prerequisite a failure.
// AFFIX_BIN names an affix binary to test instead of building one.
package integration

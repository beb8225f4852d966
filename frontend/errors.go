package frontend

import "errors"

// Sentinel errors. Callers test them with errors.Is; the wrapping error
// names the input (option, address, platform, Dockerfile) that caused them.
var (
	// ErrInvalidOption means an option is malformed or inconsistent: a
	// build argument, secret, ssh, label, annotation or build context that
	// does not parse, a missing context directory or Dockerfile, an
	// output directory that is not empty, a bad SOURCE_DATE_EPOCH.
	ErrInvalidOption = errors.New("invalid build option")
	// ErrInvalidPlatform means a platform string does not parse, or two
	// nodes are given for one platform.
	ErrInvalidPlatform = errors.New("invalid platform")
	// ErrNoNode means a requested platform has no builder node.
	ErrNoNode = errors.New("no builder node for platform")
	// ErrUnreachable means a buildkitd did not answer within the
	// connection timeout.
	ErrUnreachable = errors.New("buildkitd unreachable")
	// ErrBuildFailed means buildkitd ran the build and it failed (a
	// Dockerfile error, a failing RUN step, a missing file).
	ErrBuildFailed = errors.New("build failed")
	// ErrInvalidProgress means an unknown progress mode.
	ErrInvalidProgress = errors.New("invalid progress mode")
)

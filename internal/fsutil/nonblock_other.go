//go:build !unix

package fsutil

// oNonblock is 0 where there are no FIFOs to open without blocking.
const oNonblock = 0

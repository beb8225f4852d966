//go:build !unix

package tmpdir

import "os"

// hold holds nothing where flock is not available.
func hold(string) (*os.File, error) { return nil, nil }

// Sweep removes nothing where directories cannot be held.
func Sweep(parent, prefix string) {}

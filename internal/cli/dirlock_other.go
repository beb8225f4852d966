//go:build !unix

package cli

// lockDir is a no-op where flock is not available: concurrent writers of
// one layout's index.json are not serialized there.
func lockDir(string) (func(), error) { return func() {}, nil }

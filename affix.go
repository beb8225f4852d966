// Package affix holds module-level data for the affix commands. The code
// lives in cmd/, internal/cli and the engines frontend/, sbomgen/ and
// exporter/; see README.md.
package affix

import _ "embed"

// GoMod is the module's go.mod. It tells the versions of the syft and
// BuildKit modules affix is built with where the binary's build info does
// not (test binaries carry no dependency list).
//
//go:embed go.mod
var GoMod []byte

//go:build !unix

package sbomgen

import (
	"context"
	"errors"

	"github.com/anchore/stereoscope/pkg/filetree"
)

// indexDir is not available here: a directory is indexed by syft.
func indexDir(context.Context, string) (*filetree.FileTree, filetree.Index, error) {
	return nil, nil, errors.ErrUnsupported
}

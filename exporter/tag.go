package exporter

import (
	"strings"

	"github.com/opencontainers/go-digest"
)

// ReferrersTag returns the referrers tag schema tag of subject:
// `<alg>-<encoded>`, with the algorithm truncated to 32 characters, the
// encoded part to 64, and every character not valid in a tag replaced by
// "-" (the distribution-spec's rule, so that a sha512 subject still gives a
// tag of at most 128 characters). For sha256 it is the usual
// "sha256-<hex>".
func ReferrersTag(subject digest.Digest) string {
	alg, enc, _ := strings.Cut(string(subject), ":")
	return sanitizeTag(truncate(alg, 32)) + "-" + sanitizeTag(truncate(enc, 64))
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func sanitizeTag(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '.', r == '-':
			return r
		}
		return '-'
	}, s)
}

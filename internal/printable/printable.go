// Package printable makes text that registries and images wrote safe to
// print on a terminal: an annotation, a media type, an image config's
// field or a registry's error body may hold escape sequences that clear
// the screen, set the window title or forge lines, or a right-to-left
// override that reorders them.
package printable

import (
	"strconv"
	"strings"
	"unicode"
)

// String returns s with every control or format (Cf) character written
// as a Go escape, \x1b and the like.
func String(s string) string {
	if !strings.ContainsFunc(s, unprintable) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unprintable(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Text is String for text of several lines: newlines and tabs are kept.
func Text(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		parts := strings.Split(l, "\t")
		for j, p := range parts {
			parts[j] = String(p)
		}
		lines[i] = strings.Join(parts, "\t")
	}
	return strings.Join(lines, "\n")
}

// unprintable reports whether r is a control or format (Cf) character.
func unprintable(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }

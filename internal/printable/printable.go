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
func String(s string) string { return escape(s, unprintable) }

// Text is String for text of several lines: newlines and tabs are kept.
func Text(s string) string {
	return escape(s, func(r rune) bool { return r != '\n' && r != '\t' && unprintable(r) })
}

// escape returns s with the runes bad reports written as Go escapes.
func escape(s string, bad func(rune) bool) string {
	if !strings.ContainsFunc(s, bad) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if bad(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// unprintable reports whether r is a control or format (Cf) character.
func unprintable(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }

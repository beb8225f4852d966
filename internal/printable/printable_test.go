package printable

import "testing"

func TestString(t *testing.T) {
	for in, want := range map[string]string{
		"application/spdx+json  by affix-1": "application/spdx+json  by affix-1",
		"gen\x1b[2K\r\x1b[1Aforged":         `gen\x1b[2K\r\x1b[1Aforged`,
		"title\x1b]0;PWNED\a":               `title\x1b]0;PWNED\a`,
		"ünïcode ✓":                         "ünïcode ✓",
		"sbom\u202egpj.exe":                 `sbom\u202egpj.exe`,
		"two\nlines":                        `two\nlines`,
	} {
		if got := String(in); got != want {
			t.Errorf("String(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestText(t *testing.T) {
	for in, want := range map[string]string{
		"line 1\nline 2\tcol":        "line 1\nline 2\tcol",
		"body: \x1b[31mred\x1b[0m\n": "body: \\x1b[31mred\\x1b[0m\n",
		"\r\n":                       "\\r\n",
	} {
		if got := Text(in); got != want {
			t.Errorf("Text(%q) = %q, want %q", in, got, want)
		}
	}
}

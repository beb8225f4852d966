package epoch

import (
	"errors"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzParse checks Parse against an independent reading of the rule:
// a value is taken exactly when it is one or more ASCII digits whose
// number (of any size, leading zeros allowed) is at most Max, and then
// it is that many seconds after 1970 in UTC; "-" followed by digits is
// ErrNegative, a number past Max ErrTooLate, anything else ErrInvalid.
// ParseVar's error names the variable and the quoted value; Parse's
// names neither.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "0", "1", "1700000000", "0001700000000", "253402300799", "253402300800",
		"9223372036854775807", "9223372036854775808", "18446744073709551616",
		"99999999999999999999999999", "-1", "-0", "-", "--1", "+1", " 1", "1 ", "1\n",
		"1.5", "1e9", "0x10", "1_000", "١٢", "\x00", "1\x00", "０", "context", "-9223372036854775808",
	} {
		f.Add(s)
	}
	maxN := big.NewInt(Max)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Parse(s)
		if s == "" {
			if err != nil || !got.IsZero() {
				t.Fatalf("Parse(\"\") = %v, %v; want the zero time, no error", got, err)
			}
			return
		}
		digits, neg := strings.CutPrefix(s, "-")
		allDigits := digits != ""
		for _, r := range digits {
			if r < '0' || r > '9' {
				allDigits = false
			}
		}
		switch {
		case !allDigits:
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse(%q) = %v, %v; want ErrInvalid", s, got, err)
			}
		case neg:
			if !errors.Is(err, ErrNegative) {
				t.Fatalf("Parse(%q) = %v, %v; want ErrNegative", s, got, err)
			}
		default:
			n, ok := new(big.Int).SetString(digits, 10)
			if !ok {
				t.Fatalf("big.Int does not read %q", digits)
			}
			if n.Cmp(maxN) > 0 {
				if !errors.Is(err, ErrTooLate) {
					t.Fatalf("Parse(%q) = %v, %v; want ErrTooLate", s, got, err)
				}
				break
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v; want %s seconds", s, err, n)
			}
			if want := time.Unix(n.Int64(), 0).UTC(); !got.Equal(want) || got.Location() != time.UTC {
				t.Fatalf("Parse(%q) = %v; want %v", s, got, want)
			}
			// Round trip: the time formats back to the value without
			// its leading zeros, and that parses to the same time.
			back := strconv.FormatInt(got.Unix(), 10)
			if trimmed := strings.TrimLeft(s, "0"); back != trimmed && !(trimmed == "" && back == "0") {
				t.Fatalf("Parse(%q) = %v, formats back as %q", s, got, back)
			}
			if again, err := Parse(back); err != nil || !again.Equal(got) {
				t.Fatalf("Parse(%q) = %v, %v; Parse(%q) gave %v", back, again, err, s, got)
			}
			return
		}
		if !got.IsZero() {
			t.Fatalf("Parse(%q) failed but returned %v", s, got)
		}
		if strings.Contains(err.Error(), strconv.Quote(s)) {
			t.Fatalf("Parse(%q): %v names the value; its caller does", s, err)
		}
		if _, verr := ParseVar("SOURCE_DATE_EPOCH", s); verr == nil || !errors.Is(verr, errors.Unwrap(err)) ||
			!strings.HasPrefix(verr.Error(), "SOURCE_DATE_EPOCH="+strconv.Quote(s)+": ") {
			t.Fatalf("ParseVar(SOURCE_DATE_EPOCH, %q) = %v; want the variable, the quoted value and %v", s, verr, err)
		}
	})
}

// Package epoch parses SOURCE_DATE_EPOCH, the reproducible-builds
// timestamp (https://reproducible-builds.org/specs/source-date-epoch/),
// the same way for every affix command and engine.
package epoch

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Max is the largest epoch taken, 9999-12-31T23:59:59Z: the last second
// an RFC 3339 timestamp (image config created, SPDX creationInfo.created,
// CycloneDX metadata.timestamp) can write, since it has four-digit years.
const Max = 253402300799

// Sentinel errors of Parse. The error wrapping them says what is wanted;
// ParseVar's names the variable and the value too.
var (
	// ErrInvalid means the value is not an integer written in ASCII
	// digits (with at most a leading "-"): a sign "+", spaces, a
	// fraction or a word.
	ErrInvalid = errors.New("not an integer")
	// ErrNegative means the value is an integer below zero, a time
	// before 1970-01-01T00:00:00Z.
	ErrNegative = errors.New("before 1970")
	// ErrTooLate means the value is an integer above Max.
	ErrTooLate = errors.New("after year 9999")
)

// Parse parses a SOURCE_DATE_EPOCH value: seconds since
// 1970-01-01T00:00:00Z, from 0 to Max, written as ASCII digits only, as
// `date +%s` prints it. Nothing is trimmed: a value with spaces, a sign
// "+" or a fraction is malformed (ErrInvalid), as the specification asks.
// An empty value means unset and gives the zero time and no error.
// Errors wrap ErrInvalid, ErrNegative or ErrTooLate and say what is
// wanted, without naming the variable or the value (see ParseVar).
func Parse(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	digits, neg := s, false
	if s[0] == '-' {
		digits, neg = s[1:], true
	}
	if digits == "" {
		return time.Time{}, invalid()
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return time.Time{}, invalid()
		}
	}
	if neg {
		return time.Time{}, fmt.Errorf("want a non-negative integer (seconds since 1970-01-01 UTC): %w", ErrNegative)
	}
	n, err := strconv.ParseInt(digits, 10, 64) // only digits: fails only past int64
	if err != nil || n > Max {
		return time.Time{}, fmt.Errorf("want at most %d (%s): later times have no RFC 3339 form: %w", int64(Max), time.Unix(Max, 0).UTC().Format(time.RFC3339), ErrTooLate)
	}
	return time.Unix(n, 0).UTC(), nil
}

func invalid() error {
	return fmt.Errorf("want a non-negative integer (seconds since 1970-01-01 UTC) in ASCII digits, without spaces, sign or fraction: %w", ErrInvalid)
}

// ParseVar is Parse for the value v of the variable name, with an error
// that names both: `SOURCE_DATE_EPOCH=" 1": want ...: not an integer`.
func ParseVar(name, v string) (time.Time, error) {
	t, err := Parse(v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s=%q: %w", name, v, err)
	}
	return t, nil
}

package oci

import (
	"errors"
	"regexp"
	"strings"
	"time"
)

// ErrInvalidTime means a date-time is not RFC 3339 (section 5.6).
var ErrInvalidTime = errors.New("not an RFC 3339 date-time")

// rfc3339RE is RFC 3339 section 5.6 date-time: "." before the fraction of
// a second, offsets of 00 to 23 hours.
var rfc3339RE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$`)

// ParseTime parses s as RFC 3339 (section 5.6) date-time, what the
// image-spec wants in org.opencontainers.image.created and a config's
// created. It is stricter than time.Parse(time.RFC3339), which also
// takes a comma before the fraction of a second and offsets of 24 hours
// or more; it takes the lower-case t and z RFC 3339 allows.
func ParseTime(s string) (time.Time, error) {
	if !rfc3339RE.MatchString(s) {
		return time.Time{}, ErrInvalidTime
	}
	t, err := time.Parse(time.RFC3339Nano, strings.ToUpper(s))
	if err != nil {
		return time.Time{}, ErrInvalidTime
	}
	return t, nil
}

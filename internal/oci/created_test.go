package oci

import (
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want time.Time // zero: invalid
	}{
		{"2024-01-02T03:04:05Z", time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"2024-01-02t03:04:05z", time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"2024-01-02T03:04:05.5Z", time.Date(2024, 1, 2, 3, 4, 5, 5e8, time.UTC)},
		{"2024-01-02T03:04:05+02:00", time.Date(2024, 1, 2, 1, 4, 5, 0, time.UTC)},
		{"2024-01-02T03:04:05-23:59", time.Date(2024, 1, 3, 3, 3, 5, 0, time.UTC)},
		{"2024-01-02T03:04:05,5Z", time.Time{}},
		{"2024-01-02T03:04:05+24:00", time.Time{}},
		{"2024-01-02T03:04:05", time.Time{}},
		{"2024-01-02 03:04:05Z", time.Time{}},
		{"2024-13-02T03:04:05Z", time.Time{}},
		{"2024-02-30T03:04:05Z", time.Time{}},
		{"", time.Time{}},
	} {
		got, err := ParseTime(tt.in)
		if tt.want.IsZero() {
			if err == nil {
				t.Errorf("ParseTime(%q) = %s, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("ParseTime(%q) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}

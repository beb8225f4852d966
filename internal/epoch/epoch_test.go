package epoch

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestEpochParse checks the one rule every command uses: ASCII digits
// only, nothing trimmed, 0 to Max, empty means unset.
func TestEpochParse(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Time
		wantErr error
		wantMsg string
	}{
		{in: "", want: time.Time{}},
		{in: "0", want: time.Unix(0, 0).UTC()},
		{in: "1700000000", want: time.Date(2023, 11, 14, 22, 13, 20, 0, time.UTC)},
		{in: "0001700000000", want: time.Unix(1700000000, 0).UTC()},
		{in: "253402300799", want: time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)},

		{in: "253402300800", wantErr: ErrTooLate, wantMsg: "want at most 253402300799 (9999-12-31T23:59:59Z)"},
		{in: "99999999999999", wantErr: ErrTooLate},
		{in: "99999999999999999999", wantErr: ErrTooLate}, // past int64
		{in: "-1", wantErr: ErrNegative, wantMsg: "want a non-negative integer"},
		{in: "-0", wantErr: ErrNegative},
		{in: "-99999999999999999999", wantErr: ErrNegative},

		{in: " ", wantErr: ErrInvalid},
		{in: " 1700000000", wantErr: ErrInvalid},
		{in: "1700000000\n", wantErr: ErrInvalid},
		{in: " 1700000000\n", wantErr: ErrInvalid},
		{in: "+1700000000", wantErr: ErrInvalid},
		{in: "-", wantErr: ErrInvalid},
		{in: "--1", wantErr: ErrInvalid},
		{in: "1.5", wantErr: ErrInvalid},
		{in: "1e9", wantErr: ErrInvalid},
		{in: "0x10", wantErr: ErrInvalid},
		{in: "1_000", wantErr: ErrInvalid},
		{in: "١٢", wantErr: ErrInvalid}, // non-ASCII digits
		{in: "context", wantErr: ErrInvalid, wantMsg: "ASCII digits"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantMsg) {
					t.Fatalf("Parse(%q) = %v, %v; want %v saying %q", tt.in, got, err, tt.wantErr, tt.wantMsg)
				}
				if strings.Contains(err.Error(), "SOURCE_DATE_EPOCH") || strings.Contains(err.Error(), strconv.Quote(tt.in)) {
					t.Errorf("Parse(%q): %v names the variable or the value; its caller does", tt.in, err)
				}
				return
			}
			if err != nil || !got.Equal(tt.want) || got.Location() != time.UTC {
				t.Errorf("Parse(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

// TestEpochParseVar checks that the error names the variable and the value.
func TestEpochParseVar(t *testing.T) {
	if _, err := ParseVar("BUILDKIT_SCAN_SOURCE_DATE_EPOCH", " 1"); !errors.Is(err, ErrInvalid) || !strings.HasPrefix(err.Error(), `BUILDKIT_SCAN_SOURCE_DATE_EPOCH=" 1": `) {
		t.Errorf("ParseVar: %v", err)
	}
	if got, err := ParseVar("SOURCE_DATE_EPOCH", "5"); err != nil || got.Unix() != 5 {
		t.Errorf("ParseVar 5: %v, %v", got, err)
	}
	if got, err := ParseVar("SOURCE_DATE_EPOCH", ""); err != nil || !got.IsZero() {
		t.Errorf("ParseVar empty: %v, %v", got, err)
	}
}

package frontend

import (
	"errors"
	"strings"
	"testing"
)

func TestSetProvenance(t *testing.T) {
	for _, c := range []struct {
		in, want, wantErr string
	}{
		{"", "", ""},
		{"false", "", ""},
		{"0", "", ""},
		{"true", "mode=min", ""},
		{"mode=max", "mode=max", ""},
		{"mode=max,builder-id=https://ci.example/run/1", "mode=max,builder-id=https://ci.example/run/1", ""},
		{"disabled=true", "", ""},
		{"mode=full", "", `mode "full": want min or max`},
		{"max", "", `"max" is not KEY=VALUE`},
	} {
		p := &plan{attrs: map[string]string{}}
		err := p.setProvenance(c.in)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) || !errors.Is(err, ErrInvalidOption) {
				t.Errorf("setProvenance(%q) = %v, want an ErrInvalidOption containing %q", c.in, err, c.wantErr)
			}
			continue
		}
		if err != nil || p.attrs["attest:provenance"] != c.want {
			t.Errorf("setProvenance(%q): attr %q, %v; want %q", c.in, p.attrs["attest:provenance"], err, c.want)
		}
	}
}

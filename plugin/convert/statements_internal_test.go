package convert

import "testing"

// TestStatementsPerPlatform: the default bound on the statements read is
// MaxRead for each attested platform, at least one; a bound the caller
// gave is kept as newStatements took it.
func TestStatementsPerPlatform(t *testing.T) {
	for _, tt := range []struct {
		limit     int64
		platforms int
		want      int64
	}{
		{0, 0, MaxRead},
		{0, 1, MaxRead},
		{0, 12, 12 * MaxRead},
		{1 << 20, 0, 1 << 20},
	} {
		s := newStatements(nil, tt.limit, "r.example/app:v1")
		if tt.limit == 0 {
			s.perPlatform(tt.platforms)
		}
		if s.max != tt.want {
			t.Errorf("limit %d, %d platforms: max %d, want %d", tt.limit, tt.platforms, s.max, tt.want)
		}
	}
}

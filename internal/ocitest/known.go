package ocitest

import (
	"os"
	"testing"
)

// EnvStrict is the environment variable that turns KnownViolation's
// skips into failures: AFFIX_OCI_STRICT=1.
const EnvStrict = "AFFIX_OCI_STRICT"

// KnownViolation ends t for a violation of the OCI specifications that
// has been reported but is not fixed yet (report says where and what),
// err being the problem found: it skips t, so that the packages' tests
// pass meanwhile, unless AFFIX_OCI_STRICT=1, where it fails t. Once the
// violation is fixed, the test no longer gets here and passes.
func KnownViolation(t testing.TB, report string, err error) {
	t.Helper()
	if os.Getenv(EnvStrict) == "1" {
		t.Fatalf("OCI violation (%s):\n%v", report, err)
	}
	t.Skipf("known OCI violation, reported, not fixed yet (%s; %s=1 fails here):\n%v", report, EnvStrict, err)
}

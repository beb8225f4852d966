package buildkittest

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"testing"
)

// EnvBusybox names a static busybox binary to use in test images.
const EnvBusybox = "AFFIX_BUSYBOX"

// FindBusybox returns a statically linked busybox for the host
// architecture: $AFFIX_BUSYBOX, else /bin/busybox or /usr/bin/busybox
// (Debian's busybox-static). Test images built FROM scratch copy it in to
// get a shell for RUN steps.
func FindBusybox() (string, error) {
	cands := []string{"/bin/busybox", "/usr/bin/busybox"}
	if p := os.Getenv(EnvBusybox); p != "" {
		cands = []string{p}
	}
	var errs []error
	for _, p := range cands {
		if err := checkStatic(p); err != nil {
			errs = append(errs, err)
			continue
		}
		return p, nil
	}
	return "", fmt.Errorf("no static busybox (apt-get install busybox-static, or set %s): %w", EnvBusybox, errors.Join(errs...))
}

func checkStatic(p string) error {
	f, err := elf.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked", p)
		}
	}
	return nil
}

// Busybox is FindBusybox for a test: it skips t when there is none, or
// fails it when AFFIX_INTEGRATION=1.
func Busybox(t testing.TB) string {
	t.Helper()
	p, err := FindBusybox()
	if err != nil {
		if os.Getenv(EnvIntegration) == "1" {
			t.Fatalf("integration prerequisite missing (%s=1): %v", EnvIntegration, err)
		}
		t.Skipf("integration test skipped: %v", err)
	}
	return p
}

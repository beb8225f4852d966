//go:build unix

package tmpdir

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// old makes p look older than Grace.
func old(t *testing.T, p string) {
	t.Helper()
	past := time.Now().Add(-2 * Grace)
	if err := os.Chtimes(p, past, past); err != nil {
		t.Fatal(err)
	}
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

func TestSweep(t *testing.T) {
	parent := t.TempDir()
	held, err := Make(parent, "affix-x-")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Remove()
	mk := func(name string, dir bool) string {
		p := filepath.Join(parent, name)
		if dir {
			if err := os.Mkdir(p, 0o700); err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(p, "layer"), []byte("x"), 0o600)
		} else if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	abandoned := mk("affix-x-123", true)
	young := mk("affix-x-456", true)
	other := mk("other-prefix", true)
	file := mk("affix-x-789", false)
	users := mk("affix-x-results", true) // the user's, not one Make made
	for _, p := range []string{held.Path, abandoned, other, file, users} {
		old(t, p)
	}
	Sweep(parent, "affix-x-")
	for _, tt := range []struct {
		path string
		want bool
		why  string
	}{
		{held.Path, true, "held by a live Dir"},
		{abandoned, false, "abandoned and old"},
		{young, true, "younger than Grace (maybe between creation and lock)"},
		{other, true, "another prefix"},
		{file, true, "not a directory"},
		{users, true, "a name Make does not make"},
	} {
		if got := exists(tt.path); got != tt.want {
			t.Errorf("%s: exists %v, want %v (%s)", filepath.Base(tt.path), got, tt.want, tt.why)
		}
	}
	if err := held.Remove(); err != nil || exists(held.Path) {
		t.Errorf("Remove: %v; exists %v", err, exists(held.Path))
	}
}

// TestMakeSweepsOnce checks that the first Make of a prefix in a parent
// removes what an earlier process abandoned there.
func TestMakeSweepsOnce(t *testing.T) {
	parent := t.TempDir()
	abandoned := filepath.Join(parent, "affix-y-1")
	if err := os.Mkdir(abandoned, 0o700); err != nil {
		t.Fatal(err)
	}
	old(t, abandoned)
	d, err := Make(parent, "affix-y-")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Remove()
	if exists(abandoned) {
		t.Error("Make left an abandoned directory of its prefix")
	}
	if fi, err := os.Stat(d.Path); err != nil || !fi.IsDir() {
		t.Errorf("Make's directory: %v", err)
	}
}

// TestKilledProcess runs a process that makes a directory and is killed
// with SIGKILL, as a CI timeout does: while it lives its directory stays,
// once it is dead the directory is swept.
func TestKilledProcess(t *testing.T) {
	if os.Getenv("TMPDIR_TEST_CHILD") != "" {
		d, err := Make(os.Getenv("TMPDIR_TEST_CHILD"), "affix-z-")
		if err != nil {
			os.Exit(3)
		}
		os.Stdout.WriteString(d.Path + "\n")
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	parent := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledProcess$")
	cmd.Env = append(os.Environ(), "TMPDIR_TEST_CHILD="+parent)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	p := line[:len(line)-1]
	old(t, p)
	Sweep(parent, "affix-z-")
	if !exists(p) {
		t.Fatal("swept the directory of a live process")
	}
	cmd.Process.Kill()
	cmd.Wait()
	Sweep(parent, "affix-z-")
	if exists(p) {
		t.Error("the directory of a killed process was not swept")
	}
}

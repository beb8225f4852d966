package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/affix-oci/affix/internal/cli"
	"github.com/affix-oci/affix/plugin/dockercli"
)

// TestDockerPluginExamples checks that under the plugin's name every
// example runs `docker affix`, never a bare `affix`.
func TestDockerPluginExamples(t *testing.T) {
	var visit func(c *cobra.Command)
	n := 0
	visit = func(c *cobra.Command) {
		for _, line := range strings.Split(c.Example, "\n") {
			l := strings.TrimSpace(line)
			if strings.HasPrefix(l, "affix ") {
				t.Errorf("%s example %q runs affix", c.CommandPath(), l)
			}
			if strings.HasPrefix(l, "docker affix ") {
				n++
			}
		}
		for _, sub := range c.Commands() {
			visit(sub)
		}
	}
	visit(cli.NewRootCommand("docker affix"))
	if n == 0 {
		t.Error("no example runs docker affix")
	}
}

func TestDockerPluginVersionFlag(t *testing.T) {
	for _, tt := range []struct{ name, args, want string }{
		{"affix", "--version", "affix version "},
		{"docker affix", "-v", "docker affix version "},
	} {
		var out, errb bytes.Buffer
		code := cli.Run(context.Background(), tt.name, strings.Fields(tt.args), &out, &errb)
		if code != 0 || !strings.HasPrefix(out.String(), tt.want) {
			t.Errorf("%s %s: exit %d, out %q, err %q; want 0, %q...", tt.name, tt.args, code, out.String(), errb.String(), tt.want)
		}
	}
}

// TestDockerPluginSocketClosedExit checks that a command cancelled by
// the docker CLI closing the plugin socket exits as on SIGTERM.
func TestDockerPluginSocketClosedExit(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(dockercli.ErrCLIClosed)
	var out, errb bytes.Buffer
	code := cli.Run(ctx, "docker affix", []string{"ls", "--insecure-registry", "127.0.0.1:1", "127.0.0.1:1/x"}, &out, &errb)
	if code != 143 {
		t.Errorf("exit %d, want 143; stderr %q", code, errb.String())
	}
}

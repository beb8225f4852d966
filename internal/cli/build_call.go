package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/subrequests/lint"
	"github.com/spf13/cobra"

	"github.com/affix-oci/affix/frontend"
)

// callSpec is buildx's --call (or --check): a question to the Dockerfile
// frontend instead of a build.
type callSpec struct {
	// name is the call as given (check), request the frontend's name
	// of it (lint).
	name, request string
	// json prints the answer as JSON (format=json).
	json bool
	// ignoreStatus exits 0 whatever the answer's status
	// (ignorestatus=true).
	ignoreStatus bool
}

// callNames are the --call values, buildx's names of frontend.Calls.
var callNames = map[string]string{
	"check":                frontend.CallLint,
	"lint":                 frontend.CallLint, // the frontend's name, which buildx passes on too
	"outline":              frontend.CallOutline,
	"targets":              frontend.CallTargets,
	"subrequests.describe": frontend.CallDescribe,
}

// parseCall parses --call (NAME[,format=json|text][,ignorestatus=BOOL])
// and --check (--call check): nil for a build, the default.
func parseCall(call string, check bool) (*callSpec, error) {
	if check {
		if name, _, _ := strings.Cut(call, ","); name != "" && name != "build" && callNames[name] != frontend.CallLint {
			return nil, usageError(fmt.Errorf("--check and --call %s: --check is --call check", call))
		}
		if call == "" || call == "build" {
			call = "check"
		}
	}
	if call == "" {
		return nil, nil
	}
	s := &callSpec{}
	for _, field := range strings.Split(call, ",") {
		k, v, ok := strings.Cut(field, "=")
		switch {
		case !ok && s.name == "":
			s.name = field
		case k == "format" && (v == "json" || v == "text"):
			s.json = v == "json"
		case k == "ignorestatus":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, usageError(fmt.Errorf("--call %q: ignorestatus=%s: want true or false", call, v))
			}
			s.ignoreStatus = b
		default:
			return nil, usageError(fmt.Errorf("--call %q: %q: want NAME[,format=json|text][,ignorestatus=true|false]", call, field))
		}
	}
	if s.name == "build" {
		if s.json || s.ignoreStatus {
			return nil, usageError(fmt.Errorf("--call %q: build takes no format or ignorestatus", call))
		}
		return nil, nil
	}
	if s.request = callNames[s.name]; s.request == "" {
		return nil, usageError(fmt.Errorf("--call %q: unknown call %q: want build, check, outline, targets or subrequests.describe", call, s.name))
	}
	return s, nil
}

// runCall asks the Dockerfile frontend what c names, instead of building,
// and prints the answer on stdout; writes says an --iidfile or
// --metadata-file was asked for (and is not written). A check that finds
// something exits 1 (the answer's status) unless ignorestatus=true; a
// Dockerfile that does not parse is an error.
func runCall(cmd *cobra.Command, p *buildPlan, c *callSpec, writes bool) error {
	ctx, stdout, warn := cmd.Context(), cmd.OutOrStdout(), warnf(cmd)
	for _, w := range p.frontend.Warnings() {
		warn("%s", w)
	}
	if p.push || p.output != nil || writes {
		warn("--call %s builds nothing: nothing is pushed or written (--push, --output, --iidfile, --metadata-file)", c.name)
	}
	prog, err := frontend.StartProgress(ctx, p.progress, cmd.ErrOrStderr())
	if err != nil {
		return usageError(err)
	}
	res, err := p.frontend.Call(ctx, prog, c.request)
	if cerr := prog.Close(); err == nil && cerr != nil && !errors.Is(cerr, context.Canceled) {
		warn("progress display: %v", cerr)
	}
	if err != nil {
		return buildError(err)
	}
	if c.request == frontend.CallLint {
		err = printLint(stdout, res, c.json)
	} else {
		err = printCall(stdout, res, c.json)
	}
	if err != nil {
		return err
	}
	if res.Status != 0 && !c.ignoreStatus {
		return &exitError{code: res.Status, err: errQuiet}
	}
	return nil
}

// printCall prints the answer to an outline, targets or describe call:
// its JSON, else its text.
func printCall(w io.Writer, res *frontend.CallResult, asJSON bool) error {
	if asJSON || res.Text == nil {
		if res.JSON == nil {
			return errors.New("the frontend's answer holds no JSON")
		}
		return printJSON(w, res.JSON)
	}
	_, err := w.Write(res.Text)
	return err
}

// printJSON prints the frontend's JSON answer as one document ending in
// one newline.
func printJSON(w io.Writer, data []byte) error {
	_, err := fmt.Fprintln(w, strings.TrimRight(string(data), "\n"))
	return err
}

// printLint prints the answer to a check as buildx does: a count of the
// warnings, then each with the lines of the Dockerfile it points at (or
// the JSON); a Dockerfile that does not build is an error with its
// lines.
func printLint(w io.Writer, res *frontend.CallResult, asJSON bool) error {
	var r lint.LintResults
	if err := json.Unmarshal(res.JSON, &r); err != nil {
		return fmt.Errorf("check: the frontend's answer: %w", err)
	}
	if asJSON {
		if err := printJSON(w, res.JSON); err != nil {
			return err
		}
	} else if err := printLintText(w, &r); err != nil {
		return err
	}
	if r.Error != nil {
		var b bytes.Buffer
		r.PrintErrorTo(&b, nil)
		return errors.New(strings.TrimRight(b.String(), "\n"))
	}
	return nil
}

// printLintText prints the warnings of a check, or that there are none.
func printLintText(w io.Writer, r *lint.LintResults) error {
	switch n := len(r.Warnings); {
	case n == 0 && r.Error == nil:
		_, err := fmt.Fprintln(w, "Check complete, no warnings found.")
		return err
	case n == 1:
		fmt.Fprintln(w, "Check complete, 1 warning has been found!")
	case n > 1:
		fmt.Fprintf(w, "Check complete, %d warnings have been found!\n", n)
	}
	if err := r.PrintTo(w, nil); err != nil {
		return fmt.Errorf("check: the frontend's answer: %w", err)
	}
	if r.Error != nil && len(r.Warnings) > 0 {
		fmt.Fprintln(w)
	}
	return nil
}

package frontend

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	gateway "github.com/moby/buildkit/frontend/gateway/client"
)

// The requests Plan.Call sends: the Dockerfile frontend's subrequests, as
// buildx's --call names them (check is lint there).
const (
	// CallLint runs the Dockerfile's build checks (buildx --check).
	CallLint = "lint"
	// CallOutline lists the build arguments, secrets and ssh mounts of
	// the target.
	CallOutline = "outline"
	// CallTargets lists the stages of the Dockerfile.
	CallTargets = "targets"
	// CallDescribe lists the subrequests the frontend answers.
	CallDescribe = "subrequests.describe"
)

// Calls are the requests Plan.Call sends, in the order help lists them.
var Calls = []string{CallLint, CallOutline, CallTargets, CallDescribe}

// CallResult is the frontend's answer to a Plan.Call request: its
// result metadata.
type CallResult struct {
	// JSON is result.json, the answer as JSON (nil when not set).
	JSON []byte
	// Text is result.txt, the answer for a terminal (nil when not set).
	Text []byte
	// Status is result.statuscode: 0, or what the request asks the
	// command to exit with (1 when a build check found something).
	Status int
	// Version is the version of the answer's format.
	Version string
}

// Call asks the Dockerfile frontend for request (one of Calls) about the
// plan's Dockerfile, target, build arguments and platforms, instead of
// building it: nothing is built or exported. One builder answers, the
// node of the first platform; the others are not contacted. Progress
// (loading the Dockerfile, resolving base images) feeds prog. An
// unreachable builder is ErrUnreachable; a Dockerfile the frontend
// cannot read is ErrBuildFailed.
func (pl *Plan) Call(ctx context.Context, prog *Progress, request string) (*CallResult, error) {
	p := pl.p
	if !slices.Contains(Calls, request) {
		return nil, optErr("call %q: want one of %s", request, strings.Join(Calls, ", "))
	}
	g := group{node: p.groups[0].node, platforms: p.platforms}
	c, err := connect(ctx, g.node, p)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	so, err := p.solveOpt(g, prog, "", "")
	if err != nil {
		return nil, err
	}
	so.FrontendAttrs["requestid"] = "frontend." + request
	addCap(so.FrontendAttrs, capSubrequests)
	// A question about the build, not a build: kept out of the builder's
	// build history, as buildx does.
	so.Internal = true
	var meta map[string][]byte
	_, err = c.Build(ctx, so, "affix", func(ctx context.Context, gc gateway.Client) (*gateway.Result, error) {
		res, err := gc.Solve(ctx, gateway.SolveRequest{Frontend: frontendName, FrontendOpt: so.FrontendAttrs})
		if err != nil {
			return nil, err
		}
		meta = res.Metadata
		return res, nil
	}, prog.feed(""))
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s of %s on %s: %w", request, p.dockerfileName, g.node, context.Cause(ctx))
		}
		return nil, fmt.Errorf("%s of %s on %s: %w: %w", request, p.dockerfileName, g.node, ErrBuildFailed, err)
	}
	return callResult(request, meta)
}

// callResult reads the metadata of a subrequest's answer.
func callResult(request string, meta map[string][]byte) (*CallResult, error) {
	r := &CallResult{JSON: meta["result.json"], Text: meta["result.txt"], Version: string(meta["version"])}
	if r.JSON == nil && r.Text == nil {
		return nil, fmt.Errorf("%s: %w: the frontend's answer holds no result", request, ErrBuildFailed)
	}
	if v, ok := meta["result.statuscode"]; ok {
		n, err := strconv.Atoi(string(v))
		if err != nil {
			return nil, fmt.Errorf("%s: result.statuscode %q: %w", request, v, errors.Unwrap(err))
		}
		r.Status = n
	}
	return r, nil
}

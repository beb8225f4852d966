package exporter

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Sentinel errors. Callers test them with errors.Is; the wrapping error
// names the reference, digest or request that caused them.
var (
	// ErrNotFound means the registry answered 404 for a manifest, blob or tag.
	ErrNotFound = errors.New("not found")
	// ErrUnauthorized means the registry refused the credentials (401)
	// or denied the request (403); its text says so for both.
	ErrUnauthorized = errors.New("access refused")
	// ErrPreconditionFailed means a conditional write (If-Match) lost a race.
	ErrPreconditionFailed = errors.New("precondition failed")
	// ErrReferrersTagConflict means the referrers tag names something that is
	// not a referrers index (some registries resolve it to the subject
	// itself); affix refuses to overwrite it.
	ErrReferrersTagConflict = errors.New("referrers tag does not hold a referrers index")
	// ErrSubjectRejected means the registry refused a referrer manifest
	// (400, 415, 422, not for a missing blob): what OCI 1.1 added to it,
	// its subject or artifactType, or its empty config or layer media
	// type, which registries that allow-list media types refuse; the
	// registry's own message follows.
	ErrSubjectRejected = errors.New("registry rejected a manifest with a subject (an OCI 1.1 referrer: its subject, artifactType, empty config or layer media type)")
	// ErrReferrerLost means a referrer was not seen in two consecutive
	// reads of the referrers index within the verify rounds: other writers
	// kept overwriting it, or reading the index kept failing (the error
	// then wraps the last failure too). The tag was not moved.
	ErrReferrerLost = errors.New("referrer entry not stable in the referrers index")
	// ErrTagUnknown means a tag write got no answer from the registry (the
	// connection broke or timed out after the request was sent): the tag
	// may or may not point at the new index. Rerunning the push settles it.
	// A write the registry accepted while answering with another
	// Docker-Content-Digest is ErrTagUnknown too (errors.Is), with its own
	// text: the tag moved, to what the registry reports as that digest.
	ErrTagUnknown = errors.New("no answer to the tag write: the tag may have moved")
	// ErrInvalidArtifact means an artifact cannot be attached as given
	// (no subject, an SBOM on an index, no content).
	ErrInvalidArtifact = errors.New("invalid artifact")
	// ErrInvalidSource means the image to push is not an index or manifest,
	// or is malformed.
	ErrInvalidSource = errors.New("invalid image")
	// ErrImagesNotStarted means Ready was called on a push with an image
	// before Images.
	ErrImagesNotStarted = errors.New("ready called before the image was pushed")
	// ErrPushClosed means Attach was called after Ready, Commit or Abort,
	// Commit after Commit or Abort, or Ready after Abort.
	ErrPushClosed = errors.New("push already committed or failed")
)

// ResponseError is an unexpected registry response to one request.
type ResponseError struct {
	Method     string
	URL        string
	StatusCode int
	// Detail is the start of the response body (the registry's error JSON).
	Detail string
	// RetryAfter is the wait a 429 or 503 asked for (Retry-After), 0 when
	// none: the transport did not retry because it did not fit in its
	// time budget.
	RetryAfter time.Duration
	// authErr is the error parameter of a 401's bearer challenge
	// (invalid_token, insufficient_scope), "" when none.
	authErr string
	// body is more of the response body than Detail (up to maxErrorBody
	// bytes), for what is read from it rather than shown: the digests a
	// refusal names (manifestRefsUnknown).
	body string
}

func (e *ResponseError) Error() string {
	s := fmt.Sprintf("%s %s: %d %s", e.Method, e.URL, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.RetryAfter > 0 {
		s += " (" + retryAfterText(e.RetryAfter) + ")"
	}
	return s
}

// retryAfterText says how long the registry asked to wait before a retry,
// in whole seconds.
func retryAfterText(d time.Duration) string {
	return fmt.Sprintf("registry asked to retry after %ds", int64((d+time.Second-1)/time.Second))
}

// Unwrap maps the status code to a sentinel error.
func (e *ResponseError) Unwrap() error {
	switch e.StatusCode {
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusUnauthorized, http.StatusForbidden:
		return ErrUnauthorized
	case http.StatusPreconditionFailed:
		return ErrPreconditionFailed
	}
	return nil
}

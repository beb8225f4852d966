package exporter

import (
	"context"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Counter is an http.RoundTripper that counts the requests sent through it
// by method. Put it below the retry transport to count every attempt that
// reaches the network. It is safe for concurrent use.
type Counter struct {
	// Base sends the requests; nil means NewTransport(0) with the
	// certs.d directories' certificates per host (CertsDirs).
	Base http.RoundTripper

	mu     sync.Mutex
	counts map[string]int
	log    []string
	record bool
}

// RoundTrip counts req and sends it.
func (c *Counter) RoundTrip(req *http.Request) (*http.Response, error) {
	c.mu.Lock()
	if c.counts == nil {
		c.counts = map[string]int{}
	}
	c.counts[req.Method]++
	c.mu.Unlock()
	base := c.Base
	if base == nil {
		base = defaultTransport
	}
	resp, err := base.RoundTrip(req)
	c.mu.Lock()
	if c.record {
		line := req.Method + " " + req.URL.Path
		if q := req.URL.Query(); q.Has("mount") {
			line += "?mount=…&from=" + q.Get("from")
		}
		if err != nil {
			line += " -> error"
		} else {
			line += " -> " + strconv.Itoa(resp.StatusCode)
		}
		c.log = append(c.log, line)
	}
	c.mu.Unlock()
	return resp, err
}

// Record makes the counter keep a log of every request line
// ("METHOD /v2/... -> STATUS"), for tests and docs.
func (c *Counter) Record() {
	c.mu.Lock()
	c.record = true
	c.mu.Unlock()
}

// Log returns the recorded request lines, in the order they completed.
func (c *Counter) Log() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.log)
}

// Counts returns a copy of the counts by method.
func (c *Counter) Counts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.counts))
	for k, v := range c.counts {
		out[k] = v
	}
	return out
}

// Total returns the number of requests counted.
func (c *Counter) Total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.counts {
		n += v
	}
	return n
}

// Reset sets every count to zero and clears the log.
func (c *Counter) Reset() {
	c.mu.Lock()
	c.counts = nil
	c.log = nil
	c.mu.Unlock()
}

// Retry is an http.RoundTripper that retries a request on 5xx, 408 and 429
// responses and on dropped connections, with exponential backoff and
// jitter. It is bounded in attempts and in total time (MaxElapsed). A
// Retry-After on a 429 or 503 is honoured in full, however much longer
// than MaxWait, when it fits in what is left of MaxElapsed; when it does
// not, the response is returned at once rather than retried early (the
// error built from it names the wait, see ResponseError). A request whose
// body cannot be rewound (no GetBody) is sent once; the exporter retries
// such uploads itself from their source.
type Retry struct {
	// Base sends the requests; nil means NewTransport(0) with the
	// certs.d directories' certificates per host (CertsDirs).
	Base http.RoundTripper
	// Attempts is the maximum number of attempts per request; 0 means 8:
	// with the default waits, about 20 s of a registry answering 5xx or
	// dropping connections (a restart, a rolling deploy) is ridden out.
	Attempts int
	// MaxElapsed bounds the time spent on one request including waits; 0
	// means 2 minutes.
	MaxElapsed time.Duration
	// MinWait is the first backoff; 0 means 200ms.
	MinWait time.Duration
	// MaxWait caps one wait of the backoff; a Retry-After is not capped by
	// it (MaxElapsed bounds it). 0 means 10s.
	MaxWait time.Duration
	// Logf, if set, is told about each retry.
	Logf func(format string, args ...any)
	// Notef, if set, is told about each wait of NoteAfter or longer
	// (whatever Logf is), so that a long Retry-After does not look like
	// a hang.
	Notef func(format string, args ...any)
	// NoteAfter is the shortest wait Notef hears of; 0 means 5s.
	NoteAfter time.Duration
}

func (t *Retry) attempts() int {
	if t.Attempts > 0 {
		return t.Attempts
	}
	return 8
}

func (t *Retry) maxElapsed() time.Duration {
	if t.MaxElapsed > 0 {
		return t.MaxElapsed
	}
	return 2 * time.Minute
}

func (t *Retry) minWait() time.Duration {
	if t.MinWait > 0 {
		return t.MinWait
	}
	return 200 * time.Millisecond
}

func (t *Retry) noteAfter() time.Duration {
	if t.NoteAfter > 0 {
		return t.NoteAfter
	}
	return 5 * time.Second
}

func (t *Retry) maxWait() time.Duration {
	if t.MaxWait > 0 {
		return t.MaxWait
	}
	return 10 * time.Second
}

// RoundTrip sends req, retrying as described on Retry.
func (t *Retry) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = defaultTransport
	}
	start := time.Now()
	for attempt := 1; ; attempt++ {
		resp, err := base.RoundTrip(req)
		noteAttempt(req.Context(), resp, err)
		if !retryable(resp, err) || attempt >= t.attempts() || req.Context().Err() != nil {
			return resp, err
		}
		if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
			return resp, err
		}
		wait := min(backoff(t.minWait(), attempt), t.maxWait())
		ra, hasRA := retryAfter(resp)
		if hasRA {
			wait = ra
		}
		if wait > t.maxElapsed()-time.Since(start) { // not elapsed+wait: a huge wait would overflow
			if hasRA && t.Logf != nil {
				t.Logf("not retrying %s %s: the registry asks to wait %v, beyond the %v budget", req.Method, displayURL(req.URL), wait, t.maxElapsed())
			}
			return resp, err
		}
		if req.GetBody != nil {
			body, gerr := req.GetBody()
			if gerr != nil {
				return resp, err
			}
			req = req.Clone(req.Context())
			req.Body = body
		}
		if t.Logf != nil {
			t.Logf("retrying %s %s in %v (attempt %d): %s", req.Method, displayURL(req.URL), wait.Round(time.Millisecond), attempt+1, describe(resp, err))
		}
		if t.Notef != nil && wait >= t.noteAfter() {
			t.Notef("%s: %s; waiting %v before trying again", req.URL.Host, describe(resp, err), wait.Round(time.Second))
		}
		if resp != nil {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
		if err := sleep(req.Context(), wait); err != nil {
			return nil, err
		}
	}
}

func describe(resp *http.Response, err error) string {
	if err != nil {
		return scrub(err).Error()
	}
	return resp.Status
}

// retryable reports whether a response or transport error is worth another
// attempt: 408, 429, 5xx (but 501 and 505), or a connection that was reset,
// closed early (by the server, or by the transport on seeing the server
// close it) or timed out.
func retryable(resp *http.Response, err error) bool {
	if err != nil {
		return retryableErr(err)
	}
	return retryableStatus(resp.StatusCode)
}

// retryableStatus reports whether a response status is worth another
// attempt: 408, 429, 5xx but 501 and 505.
func retryableStatus(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusTooManyRequests:
		return true
	case http.StatusNotImplemented, http.StatusHTTPVersionNotSupported:
		return false
	}
	return code >= 500
}

func retryableErr(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	// net.ErrClosed ("use of closed network connection") is a dropped
	// connection seen from the writing side: the server closed it, the
	// transport's reader noticed and closed it while a request body was
	// still being written.
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// retryAfter parses a Retry-After header (seconds or an HTTP date) on a 429
// or 503 response.
func retryAfter(resp *http.Response) (time.Duration, bool) {
	if resp == nil || (resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable) {
		return 0, false
	}
	v := resp.Header.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil && s >= 0 {
		// A wait past what a Duration holds (292 years) is the longest
		// one, not a product that wraps negative or small: it is beyond
		// any MaxElapsed, so the request is not retried.
		if s > int64(math.MaxInt64/time.Second) {
			return time.Duration(math.MaxInt64), true
		}
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0), true
	}
	return 0, false
}

// backoff is min * 2^(attempt-1), with ±25% jitter.
func backoff(minWait time.Duration, attempt int) time.Duration {
	d := minWait << min(attempt-1, 10)
	j := time.Duration(rand.Int64N(int64(d)/2+1)) - d/4
	return d + j
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
